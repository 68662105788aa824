"""Index names, as each broker spells them, to OpenAlgo's index symbols.

Brokers disagree on how to write an index: Zerodha says `NIFTY 50`, Angel
`Nifty 50`, Dhan `NIFTY`, Upstox `NIFTY 50` or `BANKNIFTY`. OpenAlgo names the
ones that have derivatives after their derivatives (NIFTY, BANKNIFTY, FINNIFTY,
MIDCPNIFTY, NIFTYNXT50, SENSEX, BANKEX, SENSEX50) and writes every other index
upper-case with spaces and hyphens removed (`NIFTY IT` -> `NIFTYIT`).

The aliases are keyed on that squeezed form, so `Nifty Bank`, `NIFTY BANK` and
`NIFTY-BANK` all find BANKNIFTY.
"""

from __future__ import annotations

from types import MappingProxyType

# Both NSE and BSE spellings, keyed on the squeezed name. The NSE entries map the
# long or abbreviated names some brokers use to the names the others use.
_NSE_ALIASES = MappingProxyType(
    {
        "NIFTY50": "NIFTY",
        "NIFTYBANK": "BANKNIFTY",
        "NIFTYFINSERVICE": "FINNIFTY",
        "NIFTYMIDSELECT": "MIDCPNIFTY",
        "NIFTYMIDCAPSELECT": "MIDCPNIFTY",
        "NIFTYNEXT50": "NIFTYNXT50",
        "INDIAVIX": "INDIAVIX",
        # Dhan's and Upstox's long forms of indices Zerodha and Angel abbreviate.
        "NIFTYMCAP50": "NIFTYMIDCAP50",
        "NIFTYMID100FREE": "NIFTYMIDCAP100",
        "NIFTYMIDSMALLCAP400": "NIFTYMIDSML400",
        "NIFTYSMALLCAP50": "NIFTYSMLCAP50",
        "NIFTYSMALLCAP100": "NIFTYSMLCAP100",
        "NIFTYSMALLCAP250": "NIFTYSMLCAP250",
        "NIFTY100EQUALWEIGHT": "NIFTY100EQLWGT",
        "NIFTY100LOWVOLATILITY30": "NIFTY100LOWVOL30",
    }
)

# BSE's own short codes (SNSX50, MID150...) as OpenAlgo names them. Kept apart from
# the NSE table because short codes such as AUTO or METAL mean nothing on NSE.
_BSE_ALIASES = MappingProxyType(
    {
        "SENSEX": "SENSEX",
        "BANKEX": "BANKEX",
        "SNSX50": "SENSEX50",
        "SENSEX50": "SENSEX50",
        "SNXT50": "BSESENSEXNEXT50",
        "MID150": "BSE150MIDCAPINDEX",
        "LMI250": "BSE250LARGEMIDCAPINDEX",
        "MSL400": "BSE400MIDSMALLCAPINDEX",
        "AUTO": "BSEAUTO",
        "BSECG": "BSECAPITALGOODS",
        "BSECD": "BSECONSUMERDURABLES",
        "BSEHC": "BSEHEALTHCARE",
        "BSEIT": "BSEINFORMATIONTECHNOLOGY",
        "CARBON": "BSECARBONEX",
        "CPSE": "BSECPSE",
        "DOL100": "BSEDOLLEX100",
        "DOL200": "BSEDOLLEX200",
        "DOL30": "BSEDOLLEX30",
        "ENERGY": "BSEENERGY",
        "BSEFMC": "BSEFASTMOVINGCONSUMERGOODS",
        "FINSER": "BSEFINANCIALSERVICES",
        "GREENX": "BSEGREENEX",
        "INFRA": "BSEINDIAINFRASTRUCTUREINDEX",
        "INDSTR": "BSEINDUSTRIALS",
        "LRGCAP": "BSELARGECAP",
        "METAL": "BSEMETAL",
        "MIDCAP": "BSEMIDCAP",
        "MIDSEL": "BSEMIDCAPSELECTINDEX",
        "OILGAS": "BSEOIL&GAS",
        "POWER": "BSEPOWER",
        "REALTY": "BSEREALTY",
        "SMLCAP": "BSESMALLCAP",
        "SMLSEL": "BSESMALLCAPSELECTINDEX",
        "SMEIPO": "BSESMEIPO",
        "TECK": "BSETECK",
        "TELCOM": "BSETELECOM",
    }
)

_ALIASES_BY_EXCHANGE = MappingProxyType({"NSE_INDEX": _NSE_ALIASES, "BSE_INDEX": _BSE_ALIASES})


def squeeze_index_name(name: str) -> str:
    """`Nifty Fin Service` -> `NIFTYFINSERVICE`: upper-case, no spaces or hyphens."""
    return name.upper().replace(" ", "").replace("-", "")


def index_symbol(broker_name: str, exchange: str) -> str:
    """The OpenAlgo symbol of an index, from the broker's name for it.

    `exchange` is the OpenAlgo index exchange (NSE_INDEX or BSE_INDEX): it picks
    the alias table, as BSE short codes are only meaningful on BSE.
    """
    squeezed = squeeze_index_name(broker_name.strip())
    aliases = _ALIASES_BY_EXCHANGE.get(exchange)
    if aliases is None:
        return squeezed
    return aliases.get(squeezed, squeezed)
