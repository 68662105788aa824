"""The paper broker's instrument tables: real names, lot sizes, tick sizes and expiry rules.

Data only; `algovisor.contracts.paper` turns these into a day's master contract.
Index lot sizes are NSE's late-2025 revision in force for 2026 series (NIFTY 65,
BANKNIFTY 30, FINNIFTY 60, MIDCPNIFTY 120, NIFTYNXT50 25) and BSE's SENSEX 20,
BANKEX 30. MCX lot sizes are in the units the price is quoted in, as brokers
report them (GOLD 100: a 1 kg contract quoted per 10 g). Spot levels are fixed round
numbers near recent prices: they only place the strike ladders, and being fixed, keep
an instrument's strikes (and so its token) the same from day to day.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import NamedTuple

from algovisor.contracts.paper_expiries import EVERY_MONTH

# About 220 real NSE large and mid caps, all in the F&O segment.
FNO_STOCKS = (
    "RELIANCE", "TCS", "HDFCBANK", "INFY", "ICICIBANK", "HINDUNILVR", "ITC", "SBIN",
    "BHARTIARTL", "KOTAKBANK", "LT", "AXISBANK", "BAJFINANCE", "ASIANPAINT", "MARUTI",
    "HCLTECH", "SUNPHARMA", "TITAN", "ULTRACEMCO", "WIPRO", "NESTLEIND", "ONGC", "NTPC",
    "POWERGRID", "M&M", "TATAMOTORS", "TATASTEEL", "JSWSTEEL", "ADANIENT", "ADANIPORTS",
    "COALINDIA", "BAJAJFINSV", "BAJAJ-AUTO", "HEROMOTOCO", "EICHERMOT", "DRREDDY", "CIPLA",
    "DIVISLAB", "GRASIM", "HINDALCO", "BRITANNIA", "TECHM", "INDUSINDBK", "SBILIFE",
    "HDFCLIFE", "APOLLOHOSP", "TATACONSUM", "BPCL", "SHRIRAMFIN", "TRENT", "BEL", "HAL",
    "DLF", "GODREJCP", "DABUR", "PIDILITIND", "SIEMENS", "ABB", "HAVELLS", "VEDL", "IOC",
    "GAIL", "PFC", "RECLTD", "BANKBARODA", "PNB", "CANBK", "UNIONBANK", "IDFCFIRSTB",
    "FEDERALBNK", "AUBANK", "BANDHANBNK", "YESBANK", "IDEA", "INDIGO", "ETERNAL", "JIOFIN",
    "PAYTM", "NYKAA", "POLICYBZR", "DMART", "TVSMOTOR", "ASHOKLEY", "BHARATFORG",
    "MOTHERSON", "BOSCHLTD", "MRF", "BALKRISIND", "APOLLOTYRE", "EXIDEIND", "TATAPOWER",
    "ADANIGREEN", "ADANIENSOL", "NHPC", "TORNTPOWER", "CESC", "JSWENERGY", "TATACOMM",
    "TATAELXSI", "LTIM", "LTTS", "PERSISTENT", "COFORGE", "MPHASIS", "OFSS", "KPITTECH",
    "NAUKRI", "ICICIGI", "ICICIPRULI", "HDFCAMC", "MUTHOOTFIN", "MANAPPURAM", "CHOLAFIN",
    "LICHSGFIN", "SBICARD", "LICI", "M&MFIN", "POONAWALLA", "ABCAPITAL", "IRFC", "IRCTC",
    "RVNL", "CONCOR", "BHEL", "SAIL", "NMDC", "NATIONALUM", "JINDALSTEL", "JSL",
    "HINDPETRO", "PETRONET", "OIL", "IGL", "MGL", "AMBUJACEM", "ACC", "SHREECEM",
    "DALBHARAT", "INDHOTEL", "LUPIN", "AUROPHARMA", "ALKEM", "TORNTPHARM", "ZYDUSLIFE",
    "BIOCON", "GLENMARK", "LAURUSLABS", "SYNGENE", "MAXHEALTH", "FORTIS", "COLPAL",
    "MARICO", "UNITDSPR", "VBL", "JUBLFOOD", "PAGEIND", "VOLTAS", "BLUESTARCO", "CROMPTON",
    "DIXON", "POLYCAB", "KEI", "CUMMINSIND", "ASTRAL", "SUPREMEIND", "PIIND", "UPL",
    "COROMANDEL", "SRF", "TATACHEM", "GODREJPROP", "OBEROIRLTY", "PRESTIGE", "LODHA",
    "PHOENIXLTD", "BSE", "MCX", "CDSL", "ANGELONE", "CAMS", "KFINTECH", "INDIANB",
    "BANKINDIA", "IREDA", "HUDCO", "NBCC", "BDL", "MAZDOCK", "SOLARINDS", "SONACOMS",
    "TIINDIA", "UNOMINDA", "APLAPOLLO", "DELHIVERY", "KALYANKJIL", "HFCL", "INOXWIND",
    "SUZLON", "PATANJALI", "CGPOWER", "AMBER", "TATATECH", "SWIGGY", "WAAREEENER",
    "PREMIERENE", "MANKIND", "NUVAMA", "360ONE", "IIFL", "PGEL", "HINDZINC", "GMRAIRPORT",
    "ASTRALPOLY", "TITAGARH", "LALPATHLAB", "DEEPAKNTR", "AARTIIND", "NAVINFLUOR", "ATUL",
)  # fmt: skip

# Rough late-2025 prices of the best-known names, so their strikes and lots look familiar;
# every other stock's price is drawn from a hash of its name.
STOCK_SPOT_OVERRIDES = MappingProxyType({
    "RELIANCE": 1_450.0, "TCS": 3_100.0, "HDFCBANK": 990.0, "INFY": 1_500.0,
    "ICICIBANK": 1_380.0, "HINDUNILVR": 2_450.0, "ITC": 405.0, "SBIN": 930.0,
    "BHARTIARTL": 2_050.0, "KOTAKBANK": 2_100.0, "LT": 3_900.0, "AXISBANK": 1_230.0,
    "BAJFINANCE": 1_000.0, "ASIANPAINT": 2_800.0, "MARUTI": 15_800.0, "HCLTECH": 1_600.0,
    "SUNPHARMA": 1_750.0, "TITAN": 3_800.0, "ULTRACEMCO": 11_800.0, "WIPRO": 245.0,
    "NESTLEIND": 1_250.0, "ONGC": 245.0, "NTPC": 330.0, "POWERGRID": 285.0, "M&M": 3_600.0,
    "TATASTEEL": 170.0, "JSWSTEEL": 1_150.0, "COALINDIA": 380.0, "BAJAJ-AUTO": 8_900.0,
    "EICHERMOT": 6_900.0, "DRREDDY": 1_250.0, "CIPLA": 1_550.0, "TECHM": 1_450.0,
    "HAL": 4_600.0, "BEL": 410.0, "IDEA": 10.0, "YESBANK": 22.0, "IRFC": 125.0,
    "SUZLON": 55.0, "PNB": 120.0, "VEDL": 480.0, "TRENT": 4_500.0, "DMART": 4_200.0,
    "ETERNAL": 320.0, "MRF": 152_000.0, "PAGEIND": 44_000.0, "BOSCHLTD": 38_500.0,
    "SHREECEM": 29_500.0, "DIXON": 16_000.0, "OFSS": 9_200.0, "SOLARINDS": 14_500.0,
})  # fmt: skip

# Stock option strike steps by price: (price below, step). NSE's own ladder, roughly.
STOCK_STRIKE_STEPS = (
    (100.0, 1.0), (250.0, 2.5), (500.0, 5.0), (1_000.0, 10.0), (2_500.0, 20.0),
    (5_000.0, 50.0), (10_000.0, 100.0), (25_000.0, 250.0), (float("inf"), 500.0),
)  # fmt: skip

# Parts of synthetic listed-company names (SURYAPHARMA, KAVERISTEEL) padding the equity
# segments to their real size; none may equal a real name in FNO_STOCKS.
SYNTHETIC_NAME_PREFIXES = (
    "AADI", "ABHI", "ACCEL", "ADARSH", "AJANTA", "AKSHAR", "ALPHA", "AMAR", "AMBIKA", "ANAND",
    "ANKIT", "APEX", "ARIHANT", "ARYA", "ASHIANA", "ATLAS", "AVANTI", "BALAJI", "BHAGYA",
    "CHAMAN", "CROWN", "DEEP", "DHANVI", "DIVYA", "EKTA", "GANGA", "GARUDA", "GAYATRI",
    "GOKUL", "GOLDEN", "HARSHA", "HIMALAYA", "INDRA", "JAIHIND", "JYOTI", "KAILASH", "KALINGA",
    "KAMAL", "KAVERI", "KESAR", "KIRAN", "KRISHNA", "LAKSHMI", "LOTUS", "MAHA", "MAHAVIR",
    "MANGAL", "MEGHA", "MILAN", "NAVKAR", "NEELAM", "NILKANTH", "OMKAR", "PADMA", "PARAS",
    "PAVAN", "PRAGATI", "PRIYA", "RADHE", "RAJSHREE", "RATNA", "SAGAR", "SAMRAT", "SANGAM",
    "SARASWATI", "SHAKTI", "SHIVAM", "SHUBH", "SIDDHI", "SUMAN", "SURYA", "SWASTIK", "TAPTI",
    "TRIVENI", "UDAY", "UMA", "UTKAL", "VARDHAN", "VASUDHA", "VIJAY", "VINAYAK", "VISHAL",
    "YAMUNA", "ZENITH",
)  # fmt: skip
SYNTHETIC_NAME_SUFFIXES = (
    "AGRO", "ALLOYS", "AUTO", "BIOTECH", "CABLES", "CAPITAL", "CERAMIC", "CHEM", "CEMENT",
    "COTSPIN", "DEVELOP", "ELECTRIC", "ENERGY", "ENGG", "EXPORTS", "FABRICS", "FERTIL", "FIN",
    "FINCAP", "FOODS", "FORGE", "GLASS", "GRANITE", "HOLDINGS", "HOTELS", "INDS", "INFRA",
    "INVEST", "ISPAT", "JEWEL", "LEASING", "LIFESCI", "LOGIST", "METALIK", "MILLS", "MOTORS",
    "PACK", "PAPER", "PHARMA", "PIPES", "PLAST", "POLYMER", "POWER", "PROJECTS", "REALTY",
    "REMEDIES", "RESORTS", "SEEDS", "SOFT", "SOLAR", "SPINNER", "STEEL", "SUGAR", "SYNTH",
    "TEA", "TECH", "TEXTILE", "TRADING", "TUBES", "TYRES", "VENTURES", "WIRES",
)  # fmt: skip
NSE_EQUITY_COUNT = 2_000  # real names plus synthetic ones
BSE_ONLY_EQUITY_COUNT = 2_600  # BSE also lists every NSE name

NSE_INDICES = (
    "NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50", "INDIAVIX", "NIFTY100",
    "NIFTY200", "NIFTY500", "NIFTYMIDCAP50", "NIFTYMIDCAP100", "NIFTYMIDCAP150",
    "NIFTYSMLCAP100", "NIFTYSMLCAP250", "NIFTYIT", "NIFTYPHARMA", "NIFTYAUTO", "NIFTYFMCG",
    "NIFTYMETAL", "NIFTYREALTY", "NIFTYENERGY", "NIFTYMEDIA", "NIFTYPSUBANK", "NIFTYPVTBANK",
    "NIFTYINFRA", "NIFTYCOMMODITIES", "NIFTYCONSUMPTION", "NIFTYCPSE", "NIFTYMNC", "NIFTYPSE",
    "NIFTYSERVSECTOR", "NIFTYHEALTHCARE", "NIFTYOILGAS", "NIFTYCONSRDURBL", "NIFTYINDDEFENCE",
)  # fmt: skip
BSE_INDICES = (
    "SENSEX", "BANKEX", "SENSEX50", "BSE100", "BSE200", "BSE500", "BSEMIDCAP", "BSESMALLCAP",
    "BSEIT", "BSEHEALTHCARE", "BSEAUTO", "BSEFMCG", "BSEMETAL", "BSEPOWER", "BSEREALTY",
    "BSECG", "BSECD", "BSEOILGAS", "BSETECK", "BSEPSU",
)  # fmt: skip


class IndexOptionSpec(NamedTuple):
    """An index derivative: its future and its option chains."""

    name: str
    exchange: str  # NFO or BFO
    lot_size: int
    strike_step: float
    spot: float
    weekly_weekday: int | None  # Monday is 0; None: no weeklies (SEBI, November 2024)
    weekly_count: int
    monthly_count: int
    quarterly_count: int  # March/June/September/December after the serial months
    weekly_strikes_each_side: int
    monthly_strikes_each_side: int


# NSE index derivatives expire on Tuesdays and BSE's on Thursdays (since September 2025);
# a month's contract expires on that weekday's last occurrence.
NSE_EXPIRY_WEEKDAY = 1
BSE_EXPIRY_WEEKDAY = 3
INDEX_OPTIONS = (
    IndexOptionSpec("NIFTY", "NFO", 65, 50.0, 26_000.0, NSE_EXPIRY_WEEKDAY, 4, 3, 3, 100, 150),
    IndexOptionSpec("BANKNIFTY", "NFO", 30, 100.0, 59_000.0, None, 0, 3, 0, 0, 150),
    IndexOptionSpec("FINNIFTY", "NFO", 60, 50.0, 27_500.0, None, 0, 3, 0, 0, 100),
    IndexOptionSpec("MIDCPNIFTY", "NFO", 120, 25.0, 13_600.0, None, 0, 3, 0, 0, 100),
    IndexOptionSpec("NIFTYNXT50", "NFO", 25, 100.0, 70_000.0, None, 0, 3, 0, 0, 80),
    IndexOptionSpec("SENSEX", "BFO", 20, 100.0, 85_000.0, BSE_EXPIRY_WEEKDAY, 4, 3, 0, 200, 250),
    IndexOptionSpec("BANKEX", "BFO", 30, 100.0, 66_000.0, None, 0, 3, 0, 0, 150),
)
INDEX_FUTURE_MONTHS = 3
NFO_INDEX_FUTURE_TICK = 0.10
BFO_INDEX_FUTURE_TICK = 0.05
OPTION_TICK = 0.05
EQUITY_TICK = 0.05
PENNY_STOCK_TICK = 0.01
PENNY_STOCK_BELOW_RUPEES = 10.0
INDEX_TICK = 0.05  # brokers send 0 or 0.05 for an index; a positive tick keeps validation simple

STOCK_DERIVATIVE_MONTHS = 3
# Strikes each side of the money for the near, next and far month.
STOCK_STRIKES_EACH_SIDE = (50, 45, 40)
STOCK_LOT_VALUE_RUPEES = 700_000.0  # NSE sizes stock lots near this contract value
BSE_STOCK_FUTURES_COUNT = 20  # BSE lists futures on a few of the largest names


class CommoditySpec(NamedTuple):
    """An MCX commodity: its futures, and optionally its options."""

    name: str
    lot_size: int
    tick_size: float
    expiry_day: int | None  # day of month; None: the month's last business day
    months: tuple[int, ...]  # contract months
    future_count: int
    option_count: int  # option series, on the nearest futures
    option_lead_days: int  # options expire this many trading days before their future
    option_strike_step: float
    option_strikes_each_side: int
    option_tick_size: float
    spot: float


EVEN_MONTHS = (2, 4, 6, 8, 10, 12)
SILVER_MONTHS = (3, 5, 7, 9, 12)
SILVER_MINI_MONTHS = (2, 4, 6, 8, 11)
COMMODITIES = (
    CommoditySpec("CRUDEOIL", 100, 1.0, 19, EVERY_MONTH, 6, 4, 2, 50.0, 80, 0.1, 5_600.0),
    CommoditySpec("CRUDEOILM", 10, 1.0, 19, EVERY_MONTH, 6, 0, 0, 0.0, 0, 0.0, 5_600.0),
    CommoditySpec("NATURALGAS", 1250, 0.1, 25, EVERY_MONTH, 6, 4, 1, 5.0, 80, 0.05, 330.0),
    CommoditySpec("NATGASMINI", 250, 0.1, 25, EVERY_MONTH, 6, 0, 0, 0.0, 0, 0.0, 330.0),
    CommoditySpec("GOLD", 100, 1.0, 5, EVEN_MONTHS, 6, 3, 7, 500.0, 80, 0.5, 128_000.0),
    CommoditySpec("GOLDM", 10, 1.0, 5, EVERY_MONTH, 6, 0, 0, 0.0, 0, 0.0, 128_000.0),
    CommoditySpec("GOLDPETAL", 1, 1.0, None, EVERY_MONTH, 3, 0, 0, 0.0, 0, 0.0, 12_800.0),
    CommoditySpec("SILVER", 30, 1.0, 5, SILVER_MONTHS, 5, 3, 7, 500.0, 80, 0.5, 155_000.0),
    CommoditySpec("SILVERM", 5, 1.0, None, SILVER_MINI_MONTHS, 5, 0, 0, 0.0, 0, 0.0, 155_000.0),
    CommoditySpec("SILVERMIC", 1, 1.0, None, SILVER_MINI_MONTHS, 5, 0, 0, 0.0, 0, 0.0, 155_000.0),
    CommoditySpec("COPPER", 2500, 0.05, None, EVERY_MONTH, 3, 0, 0, 0.0, 0, 0.0, 1_010.0),
    CommoditySpec("ZINC", 5000, 0.05, None, EVERY_MONTH, 3, 0, 0, 0.0, 0, 0.0, 295.0),
    CommoditySpec("ALUMINIUM", 5000, 0.05, None, EVERY_MONTH, 3, 0, 0, 0.0, 0, 0.0, 262.0),
    CommoditySpec("LEAD", 5000, 0.05, None, EVERY_MONTH, 3, 0, 0, 0.0, 0, 0.0, 182.0),
    CommoditySpec("NICKEL", 1500, 0.1, None, EVERY_MONTH, 3, 0, 0, 0.0, 0, 0.0, 1_420.0),
)


class CurrencySpec(NamedTuple):
    """A CDS currency pair: monthly futures, and optionally weekly and monthly options.

    The lot is in the unit the price is quoted in, so price x lot is the contract value:
    JPYINR is a JPY 100,000 contract quoted per 100 yen, hence 1000.
    """

    name: str
    lot_size: int
    future_count: int
    weekly_option_count: int  # Friday weeklies
    monthly_option_count: int
    strike_step: float
    strikes_each_side: int
    spot: float


CURRENCY_TICK = 0.0025
CURRENCY_WEEKLY_WEEKDAY = 4  # Friday
# Monthly currency contracts expire two business days before the month's last business day.
CURRENCY_EXPIRY_DAYS_BEFORE_MONTH_END = 2
CURRENCIES = (
    CurrencySpec("USDINR", 1000, 12, 4, 3, 0.25, 60, 88.5),
    CurrencySpec("EURINR", 1000, 12, 4, 3, 0.25, 60, 102.75),
    CurrencySpec("GBPINR", 1000, 12, 0, 0, 0.25, 0, 117.5),
    CurrencySpec("JPYINR", 1000, 12, 0, 0, 0.25, 0, 58.25),
)

# Token ranges per exchange: (first token, how many). Equity ranges look like the
# exchanges' own codes; derivative ranges are wide so hash collisions stay rare.
TOKEN_RANGES = MappingProxyType(
    {
        "NSE": (1_000, 99_000),
        "BSE": (500_000, 100_000),
        "NSE_INDEX": (26_000, 1_000),
        "BSE_INDEX": (99_919_000, 1_000),
        "NFO": (1_000_000, 2_000_000_000),
        "BFO": (1_000_000, 2_000_000_000),
        "MCX": (1_000_000, 2_000_000_000),
        "CDS": (1_000_000, 2_000_000_000),
        "BCD": (1_000_000, 2_000_000_000),
    }
)
