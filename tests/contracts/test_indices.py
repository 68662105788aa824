"""Each broker's spelling of an index finds the one OpenAlgo index symbol."""

from __future__ import annotations

import pytest

from algovisor.contracts.indices import index_symbol


@pytest.mark.parametrize(
    ("broker_name", "exchange", "symbol"),
    [
        ("NIFTY 50", "NSE_INDEX", "NIFTY"),  # Zerodha
        ("Nifty 50", "NSE_INDEX", "NIFTY"),  # Angel
        ("NIFTY", "NSE_INDEX", "NIFTY"),  # Dhan
        ("NIFTY BANK", "NSE_INDEX", "BANKNIFTY"),
        ("Nifty Bank", "NSE_INDEX", "BANKNIFTY"),
        ("BANKNIFTY", "NSE_INDEX", "BANKNIFTY"),
        ("NIFTY FIN SERVICE", "NSE_INDEX", "FINNIFTY"),
        ("Nifty Fin Service", "NSE_INDEX", "FINNIFTY"),
        ("NIFTY MID SELECT", "NSE_INDEX", "MIDCPNIFTY"),
        ("NIFTY NEXT 50", "NSE_INDEX", "NIFTYNXT50"),
        ("INDIA VIX", "NSE_INDEX", "INDIAVIX"),
        ("India VIX", "NSE_INDEX", "INDIAVIX"),
        ("NIFTY MID100 FREE", "NSE_INDEX", "NIFTYMIDCAP100"),  # Dhan's name for Midcap 100
        ("NIFTY MIDCAP 100", "NSE_INDEX", "NIFTYMIDCAP100"),  # everyone else's
        ("NIFTY SMALLCAP 250", "NSE_INDEX", "NIFTYSMLCAP250"),
        ("Nifty GS 10Yr Cln", "NSE_INDEX", "NIFTYGS10YRCLN"),  # other indices: squeezed
        ("BHARATBOND-APR30", "NSE_INDEX", "BHARATBONDAPR30"),
        ("SENSEX", "BSE_INDEX", "SENSEX"),
        ("BANKEX", "BSE_INDEX", "BANKEX"),
        ("SNSX50", "BSE_INDEX", "SENSEX50"),
        ("SENSEX50", "BSE_INDEX", "SENSEX50"),
        ("BSE IT", "BSE_INDEX", "BSEINFORMATIONTECHNOLOGY"),
        ("BSEDSI", "BSE_INDEX", "BSEDSI"),
        # BSE's short codes mean nothing on NSE.
        ("AUTO", "NSE_INDEX", "AUTO"),
        ("AUTO", "BSE_INDEX", "BSEAUTO"),
    ],
)
def test_index_symbol(broker_name: str, exchange: str, symbol: str) -> None:
    assert index_symbol(broker_name, exchange) == symbol
