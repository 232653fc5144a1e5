"""Fixed reference data of the demo shop: countries, cities, names, catalog vocabulary, browsers.

Everything here is plain constants, so the generator's output only depends on the seed. E-mail
addresses use the reserved ``.example`` top-level domain (RFC 2606): they look like real
addresses (``anna.schmidt@gmx.example``) but can never reach anybody.
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES: tuple[str, ...] = (
    "fashion", "electronics", "home", "beauty", "sports", "books", "toys", "grocery",
)
CATEGORY_TITLES: tuple[str, ...] = (
    "Fashion", "Electronics", "Home & Living", "Beauty", "Sports & Outdoors", "Books",
    "Toys & Games", "Grocery",
)
CATEGORY_POPULARITY: tuple[float, ...] = (1.5, 1.2, 1.0, 0.9, 0.8, 0.6, 0.6, 0.7)
# lognormal price model per category: (median price, sigma)
CATEGORY_PRICE: tuple[tuple[float, float], ...] = (
    (35.0, 0.6), (120.0, 1.0), (45.0, 0.8), (18.0, 0.5), (40.0, 0.8), (14.0, 0.35),
    (25.0, 0.6), (6.0, 0.5),
)
CATEGORY_NOUNS: tuple[tuple[str, ...], ...] = (
    ("T-Shirt", "Jeans", "Sweater", "Dress", "Sneakers", "Jacket", "Hoodie", "Scarf", "Boots",
     "Shirt"),
    ("Headphones", "Smartwatch", "Bluetooth Speaker", "Phone Case", "USB-C Charger", "Tablet",
     "Keyboard", "Mouse", "Webcam", "E-Reader"),
    ("Throw Pillow", "Scented Candle", "Table Lamp", "Bath Towel Set", "Coffee Mug", "Duvet Cover",
     "Wall Clock", "Plant Pot", "Cutting Board", "Storage Basket"),
    ("Face Serum", "Moisturizer", "Lipstick", "Shampoo", "Perfume", "Mascara", "Hand Cream",
     "Sunscreen SPF 50", "Body Lotion", "Nail Polish"),
    ("Yoga Mat", "Running Shoes", "Water Bottle", "Dumbbell Set", "Tennis Racket", "Backpack",
     "Cycling Gloves", "Fitness Tracker", "Resistance Bands", "Tent"),
    ("Cookbook", "Thriller Novel", "Children's Book", "Travel Guide", "Biography",
     "Fantasy Novel", "Poetry Collection", "Self-Help Book", "Graphic Novel", "Art Book"),
    ("Building Blocks", "Board Game", "Puzzle 1000 pcs", "Plush Bear", "RC Car", "Doll House",
     "Card Game", "Science Kit", "Wooden Train", "Action Figure"),
    ("Olive Oil", "Ground Coffee", "Green Tea", "Dark Chocolate", "Pasta", "Granola",
     "Honey", "Peanut Butter", "Sparkling Water 6-Pack", "Basmati Rice"),
)
CATEGORY_ADJECTIVES: tuple[tuple[str, ...], ...] = (
    ("Classic", "Slim Fit", "Organic Cotton", "Oversized", "Vintage", "Essential", "Merino",
     "Relaxed"),
    ("Wireless", "Pro", "Compact", "Noise-Cancelling", "Ultra", "Smart", "Portable", "Mini"),
    ("Linen", "Ceramic", "Oak", "Velvet", "Minimalist", "Rustic", "Nordic", "Handmade"),
    ("Hydrating", "Vitamin C", "Natural", "Matte", "Repair", "Sensitive", "Rose", "Daily"),
    ("Lightweight", "Trail", "Pro", "Ultralight", "All-Weather", "Training", "Eco", "Compact"),
    ("Illustrated", "Bestselling", "Collector's", "Pocket", "Hardcover", "Award-Winning",
     "Classic", "New"),
    ("Deluxe", "Junior", "Family", "Classic", "Creative", "Magnetic", "Wooden", "Mega"),
    ("Organic", "Fair Trade", "Italian", "Swiss", "Wholegrain", "Roasted", "Wildflower",
     "Premium"),
)
CATEGORY_BRANDS: tuple[tuple[str, ...], ...] = (
    ("Nordvik", "Urban Thread", "Maison Lune", "Blue Harbor", "Kestrel", "Wildmoor"),
    ("Voltix", "Sonora", "Pixelon", "Arcwave", "Nimbus", "Quanta"),
    ("Hearthly", "Casa Verde", "Oakline", "Lumen & Co", "Nestwell", "Fjord Home"),
    ("Glowra", "Maison Rosé", "Purelab", "Velvetine", "Botanica", "Lumiere"),
    ("Peakform", "Stridewell", "Altura", "Trailborn", "Kinetix", "Summit Co"),
    ("Penwick Press", "Lantern Books", "Inkwell", "Northstar Editions", "Folio House",
     "Paperfox"),
    ("Tinkerly", "Brickster", "Playwise", "Joyburst", "Little Oak", "Funtastic"),
    ("Harvest Lane", "Green Basket", "Dolce Vita", "Alpenhof", "Bean Republic", "Golden Hive"),
)
SEARCH_TERMS: tuple[tuple[str, ...], ...] = (
    ("jeans", "summer dress", "white sneakers", "rain jacket", "wool sweater"),
    ("wireless headphones", "smartwatch", "usb c charger", "bluetooth speaker", "tablet"),
    ("scented candle", "duvet cover", "table lamp", "towels", "coffee mug"),
    ("face serum", "sunscreen", "perfume", "shampoo", "lipstick"),
    ("yoga mat", "running shoes", "water bottle", "dumbbells", "tent"),
    ("cookbook", "thriller", "fantasy books", "travel guide", "kids books"),
    ("lego", "board games", "puzzle", "plush", "science kit"),
    ("coffee beans", "olive oil", "dark chocolate", "green tea", "granola"),
)

# interest weights per gender (female, male, non-binary) over CATEGORIES
INTEREST_WEIGHTS: tuple[tuple[float, ...], ...] = (
    (1.6, 0.6, 1.2, 1.5, 0.7, 1.0, 0.8, 1.0),
    (0.7, 1.6, 0.9, 0.4, 1.4, 0.9, 0.8, 1.0),
    (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
)
GENDERS: tuple[str, ...] = ("female", "male", "non_binary")
GENDER_SHARES: tuple[float, ...] = (0.51, 0.47, 0.02)
INCOME_BANDS: tuple[str, ...] = ("<25k", "25-50k", "50-75k", "75-100k", "100-150k", "150k+")
INCOME_SHARES: tuple[float, ...] = (0.15, 0.25, 0.22, 0.15, 0.13, 0.10)
LIFECYCLES: tuple[str, ...] = ("new", "active", "lapsing", "churned")
LIFECYCLE_SHARES: tuple[float, ...] = (0.2, 0.4, 0.2, 0.2)
# session-rate multipliers; sum(share * multiplier) == 1 so sessions_per_person stays the mean
LIFECYCLE_RATE: tuple[float, ...] = (0.7, 1.5, 0.8, 0.5)
LOYALTY_TIERS: tuple[str, ...] = ("bronze", "silver", "gold", "platinum")

CHANNELS: tuple[str, ...] = ("organic", "direct", "cpc", "paid_social", "email", "referral")
# channel mix for people with an account (they get newsletters) and for anonymous visitors
CHANNEL_MIX_KNOWN: tuple[float, ...] = (0.26, 0.20, 0.20, 0.12, 0.18, 0.04)
CHANNEL_MIX_ANON: tuple[float, ...] = (0.32, 0.22, 0.24, 0.16, 0.0, 0.06)
# hour-of-day weights (local time): a lunch bump and an evening peak
HOUR_WEIGHTS: tuple[float, ...] = (
    0.9, 0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 1.5, 2.2, 2.6, 2.8, 3.0,
    3.6, 3.4, 3.0, 3.0, 3.2, 3.6, 4.6, 5.8, 6.4, 5.9, 4.2, 2.2,
)

SHOP_HOST = "https://shop.example.com"
SHOP_NAME = "Demo Shop"
LIBRARY = {"name": "analytics.js", "version": "next-1.72.0"}

DEVICE_TYPES: tuple[str, ...] = ("desktop", "mobile", "tablet")
USER_AGENTS: tuple[tuple[str, ...], ...] = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/141.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/141.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/26.0 Safari/605.1.15",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:144.0) Gecko/20100101 Firefox/144.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/141.0.0.0 Safari/537.36 Edg/141.0.0.0",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 26_0 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/26.0 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 15; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/141.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 16; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/141.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) CriOS/141.0.0.0 Mobile/15E148 Safari/604.1",
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 26_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/26.0 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 15; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/141.0.0.0 Safari/537.36",
    ),
)


@dataclass(frozen=True)
class City:
    """A city: its share of the country's people, time zone, post codes and phone areas.

    ``postcodes`` are prefixes completed by ``postcode_suffix``: ``"d2"``/``"d3"`` append two or
    three digits, ``"gb"`` appends a British inward code (`` 4AB``), ``""`` uses them as they are.
    ``areas`` are landline area codes without the trunk ``0`` and the subscriber-number length.
    """

    name: str
    weight: float
    tz: str
    postcodes: tuple[str, ...]
    postcode_suffix: str
    areas: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Country:
    """A country: calling code, currency, locale, name pools, e-mail providers, phone plans."""

    code: str
    weight: float
    calling_code: str
    currency: str
    locale: str
    cities: tuple[City, ...]
    female: tuple[str, ...]
    male: tuple[str, ...]
    last: tuple[str, ...]
    email_domains: tuple[tuple[str, float], ...]
    mobile_areas: tuple[tuple[str, int], ...]
    ip_prefixes: tuple[int, ...]


_US_AREAS = {  # city -> area codes (US mobiles share them)
    "New York": ("212", "718", "917", "646"), "Los Angeles": ("213", "310", "323", "818"),
    "Chicago": ("312", "773"), "Houston": ("713", "281", "832"), "Phoenix": ("602", "480"),
    "Philadelphia": ("215", "267"), "San Francisco": ("415", "628"), "Seattle": ("206", "425"),
    "Boston": ("617", "857"), "Denver": ("303", "720"), "Austin": ("512", "737"),
    "Miami": ("305", "786"), "Atlanta": ("404", "678"),
}


def _us(name: str, weight: float, tz: str, zips: tuple[str, ...]) -> City:
    return City(name, weight, tz, zips, "d2", tuple((a, 7) for a in _US_AREAS[name]))


COUNTRIES: tuple[Country, ...] = (
    Country(
        "US", 0.45, "1", "USD", "en-US",
        (
            _us("New York", 3.0, "America/New_York", ("100", "101", "102", "103", "104", "112")),
            _us("Los Angeles", 2.2, "America/Los_Angeles", ("900", "910", "913")),
            _us("Chicago", 1.6, "America/Chicago", ("606",)),
            _us("Houston", 1.3, "America/Chicago", ("770",)),
            _us("Phoenix", 1.0, "America/Phoenix", ("850",)),
            _us("Philadelphia", 0.9, "America/New_York", ("191",)),
            _us("San Francisco", 0.8, "America/Los_Angeles", ("941",)),
            _us("Seattle", 0.8, "America/Los_Angeles", ("981",)),
            _us("Boston", 0.7, "America/New_York", ("021",)),
            _us("Denver", 0.7, "America/Denver", ("802",)),
            _us("Austin", 0.7, "America/Chicago", ("787",)),
            _us("Miami", 0.6, "America/New_York", ("331",)),
            _us("Atlanta", 0.6, "America/New_York", ("303",)),
        ),
        ("Emma", "Olivia", "Ava", "Sophia", "Isabella", "Mia", "Charlotte", "Amelia", "Harper",
         "Evelyn", "Abigail", "Emily", "Elizabeth", "Madison", "Avery", "Ella", "Scarlett",
         "Grace", "Chloe", "Jessica", "Ashley", "Sarah", "Jennifer", "Megan", "Lauren", "Rachel",
         "Nicole", "Samantha", "Hannah", "Maria"),
        ("Liam", "Noah", "Oliver", "Elijah", "James", "William", "Benjamin", "Lucas", "Henry",
         "Alexander", "Michael", "Daniel", "Matthew", "Ethan", "Jacob", "Logan", "Jackson",
         "David", "Joseph", "Samuel", "Christopher", "Andrew", "Joshua", "Ryan", "Tyler",
         "Brandon", "Justin", "Kevin", "Jason", "Robert"),
        ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
         "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
         "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White",
         "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen",
         "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "O'Brien"),
        (("gmail.example", 0.45), ("yahoo.example", 0.12), ("outlook.example", 0.10),
         ("hotmail.example", 0.08), ("icloud.example", 0.12), ("aol.example", 0.03),
         ("comcast.example", 0.05), ("proton.example", 0.05)),
        (),  # US mobiles use the city's area codes
        (24, 67, 73, 98, 173),
    ),
    Country(
        "GB", 0.20, "44", "GBP", "en-GB",
        (
            City("London", 4.0, "Europe/London",
                 ("E1", "E14", "EC1A", "N1", "N7", "NW1", "SE1", "SE10", "SW1A", "SW11", "W1D",
                  "W2", "WC2N"), "gb", (("20", 8),)),
            City("Manchester", 1.2, "Europe/London", ("M1", "M4", "M14", "M20"), "gb",
                 (("161", 7),)),
            City("Birmingham", 1.2, "Europe/London", ("B1", "B5", "B15"), "gb", (("121", 7),)),
            City("Leeds", 0.8, "Europe/London", ("LS1", "LS6"), "gb", (("113", 7),)),
            City("Glasgow", 0.8, "Europe/London", ("G1", "G12"), "gb", (("141", 7),)),
            City("Bristol", 0.6, "Europe/London", ("BS1", "BS8"), "gb", (("117", 7),)),
            City("Edinburgh", 0.6, "Europe/London", ("EH1", "EH3"), "gb", (("131", 7),)),
            City("Liverpool", 0.6, "Europe/London", ("L1", "L8"), "gb", (("151", 7),)),
        ),
        ("Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Isabella", "Rosie", "Sophia",
         "Grace", "Freya", "Evie", "Poppy", "Charlotte", "Emily", "Sophie", "Jessica", "Lucy",
         "Hannah", "Chloe", "Holly", "Katie", "Rebecca", "Laura", "Eleanor", "Harriet", "Imogen",
         "Georgia", "Zoe"),
        ("Oliver", "George", "Noah", "Arthur", "Harry", "Leo", "Muhammad", "Jack", "Charlie",
         "Oscar", "Jacob", "Henry", "Thomas", "Freddie", "Alfie", "Theo", "William", "James",
         "Joshua", "Daniel", "Samuel", "Edward", "Callum", "Liam", "Ryan", "Matthew", "Luke",
         "Adam", "Benjamin", "Joseph"),
        ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
         "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
         "Wood", "Jackson", "Clarke", "Patel", "Khan", "Lewis", "James", "Phillips", "Mason",
         "Mitchell", "Rose", "Davis", "Hughes", "Edwards", "Turner", "Hill", "Moore", "Cooper",
         "Ward", "Morris", "King", "Harrison", "O'Neill"),
        (("gmail.example", 0.40), ("hotmail.example", 0.15), ("outlook.example", 0.10),
         ("yahoo.example", 0.10), ("btinternet.example", 0.10), ("icloud.example", 0.10),
         ("sky.example", 0.05)),
        tuple((f"7{n}", 6) for n in ("400", "507", "700", "723", "800", "824", "911", "956")),
        (2, 31, 81, 86, 92),
    ),
    Country(
        "DE", 0.20, "49", "EUR", "de-DE",
        (
            City("Berlin", 2.5, "Europe/Berlin", ("10", "12", "13"), "d3", (("30", 8),)),
            City("Hamburg", 1.3, "Europe/Berlin", ("20", "22"), "d3", (("40", 8),)),
            City("München", 1.1, "Europe/Berlin", ("80", "81"), "d3", (("89", 8),)),
            City("Köln", 0.8, "Europe/Berlin", ("50", "51"), "d3", (("221", 7),)),
            City("Frankfurt am Main", 0.6, "Europe/Berlin", ("60",), "d3", (("69", 8),)),
            City("Stuttgart", 0.5, "Europe/Berlin", ("70",), "d3", (("711", 7),)),
            City("Düsseldorf", 0.5, "Europe/Berlin", ("40",), "d3", (("211", 7),)),
            City("Leipzig", 0.5, "Europe/Berlin", ("04",), "d3", (("341", 7),)),
            City("Dresden", 0.4, "Europe/Berlin", ("01",), "d3", (("351", 7),)),
        ),
        ("Anna", "Emma", "Mia", "Hannah", "Sophie", "Lea", "Lena", "Marie", "Laura", "Julia",
         "Sarah", "Lisa", "Katharina", "Johanna", "Clara", "Charlotte", "Leonie", "Lara",
         "Amelie", "Jana", "Sabine", "Petra", "Claudia", "Susanne", "Andrea", "Nicole",
         "Stefanie", "Franziska", "Emilia", "Mila"),
        ("Lukas", "Leon", "Finn", "Jonas", "Paul", "Ben", "Elias", "Noah", "Luis", "Felix",
         "Maximilian", "Moritz", "Jan", "Tim", "Niklas", "Tobias", "Florian", "Sebastian",
         "Alexander", "Stefan", "Michael", "Thomas", "Andreas", "Markus", "Christian", "Daniel",
         "Jürgen", "Uwe", "Matthias", "Jörg"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
         "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder",
         "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange",
         "Schmitt", "Werner", "Schmitz", "Krause", "Meier", "Lehmann", "Köhler", "Maier",
         "Herrmann", "König", "Walter", "Mayer", "Huber", "Kaiser", "Fuchs"),
        (("gmx.example", 0.30), ("web.example", 0.25), ("gmail.example", 0.20),
         ("t-online.example", 0.12), ("outlook.example", 0.08), ("posteo.example", 0.05)),
        (("151", 8), ("152", 8), ("157", 8), ("160", 7), ("170", 7), ("171", 7), ("172", 7),
         ("176", 8), ("177", 7), ("179", 7)),
        (46, 79, 84, 87, 91),
    ),
    Country(
        "FR", 0.15, "33", "EUR", "fr-FR",
        (
            City("Paris", 3.0, "Europe/Paris", tuple(f"750{i:02d}" for i in range(1, 21)), "",
                 (("1", 8),)),
            City("Marseille", 1.0, "Europe/Paris", tuple(f"130{i:02d}" for i in range(1, 17)),
                 "", (("4", 8),)),
            City("Lyon", 0.9, "Europe/Paris", tuple(f"6900{i}" for i in range(1, 10)), "",
                 (("4", 8),)),
            City("Toulouse", 0.7, "Europe/Paris",
                 ("31000", "31100", "31200", "31300", "31400", "31500"), "", (("5", 8),)),
            City("Nice", 0.5, "Europe/Paris", ("06000", "06100", "06200", "06300"), "",
                 (("4", 8),)),
            City("Nantes", 0.5, "Europe/Paris", ("44000", "44100", "44200", "44300"), "",
                 (("2", 8),)),
            City("Bordeaux", 0.5, "Europe/Paris", ("33000", "33100", "33200", "33300", "33800"),
                 "", (("5", 8),)),
            City("Lille", 0.5, "Europe/Paris", ("59000", "59160", "59260", "59777", "59800"), "",
                 (("3", 8),)),
        ),
        ("Emma", "Jade", "Louise", "Alice", "Chloé", "Lina", "Léa", "Rose", "Anna", "Mila",
         "Inès", "Ambre", "Julia", "Manon", "Camille", "Zoé", "Juliette", "Léna", "Sarah",
         "Lucie", "Marie", "Nathalie", "Isabelle", "Sophie", "Céline", "Aurélie", "Émilie",
         "Claire", "Élodie", "Margaux"),
        ("Gabriel", "Léo", "Raphaël", "Arthur", "Louis", "Lucas", "Adam", "Jules", "Hugo", "Maël",
         "Nathan", "Paul", "Théo", "Ethan", "Tom", "Noah", "Nicolas", "Julien", "Thomas", "Maxime",
         "Antoine", "Alexandre", "Pierre", "Quentin", "Baptiste", "François", "Guillaume",
         "Mathieu", "Romain", "Sébastien"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
         "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand",
         "Roux", "Vincent", "Fournier", "Morel", "Girard", "André", "Lefèvre", "Mercier",
         "Dupont", "Lambert", "Bonnet", "François", "Martinez", "Legrand", "Garnier", "Faure",
         "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas"),
        (("gmail.example", 0.35), ("orange.example", 0.20), ("free.example", 0.12),
         ("hotmail.example", 0.12), ("laposte.example", 0.08), ("sfr.example", 0.08),
         ("yahoo.example", 0.05)),
        (("6", 8), ("7", 8)),
        (78, 82, 86, 90, 92),
    ),
)

# ASCII folding for e-mail local parts and URL slugs
FOLD: dict[str, str] = {
    "ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e", "ê": "e", "ë": "e",
    "à": "a", "â": "a", "ç": "c", "î": "i", "ï": "i", "ô": "o", "û": "u", "ù": "u", "'": "",
}
