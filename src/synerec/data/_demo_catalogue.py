"""The demo shop's catalogue vocabulary: its categories, departments and colours.

The words :mod:`synerec.data.demo_shop` writes its product titles and descriptions from, and
which categories are related (bought by the same customers, bought together). Importable from
:mod:`synerec.data.demo_shop` too.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATEGORIES", "COLOURS", "DEPARTMENTS", "MODEL_SUFFIXES", "RELATED_DEPARTMENTS",
           "Category", "related_categories"]

#: Colours shared by all categories (users have a favourite one).
COLOURS: tuple[str, ...] = ("Black", "White", "Navy", "Red", "Grey", "Olive", "Blue", "Pink",
                            "Teal", "Sand")

MODEL_SUFFIXES = ("", "2", "3", "4", "5", "Pro", "Plus", "Max", "Lite", "X")


@dataclass(frozen=True)
class Category:
    """One product category and the vocabulary its titles and descriptions are written from.

    Attributes
    ----------
    name
        Category label stored in ``item_info["category"]``.
    nouns
        Product nouns used in titles (the first is the category's main noun).
    brands
        Fictional brands, from budget to premium (the brand tier scales the price).
    lines
        Product-line names.
    materials
        Materials or key ingredients.
    features
        Feature adjectives (a user has a preference per feature slot).
    uses
        Category-specific second sentences of descriptions.
    base_price
        Typical price in the shop's currency.
    department
        The group of related categories it belongs to (see :data:`DEPARTMENTS`): customers
        shop across the categories of a department, and its products are bought together.
    """

    name: str
    nouns: tuple[str, ...]
    brands: tuple[str, ...]
    lines: tuple[str, ...]
    materials: tuple[str, ...]
    features: tuple[str, ...]
    uses: tuple[str, ...]
    base_price: float
    department: str


CATEGORIES: tuple[Category, ...] = (
    Category("Running Shoes",
             ("Running Shoes", "Trail Running Shoes", "Road Running Shoes", "Racing Flats"),
             ("Acme", "Stridewell", "Fleetfoot", "Kinetix", "Aerorun"),
             ("TrailRunner", "Tempo", "Velocity", "Pacer", "Glide"),
             ("breathable mesh", "engineered knit", "synthetic suede", "recycled polyester"),
             ("Waterproof", "Lightweight", "Cushioned", "Stability", "Grippy"),
             ("Built for daily training runs on road and trail.",
              "A responsive midsole keeps every stride springy from the first mile to the last.",
              "Runners praise the snug heel and roomy toe box."),
             95.0, "Sports"),
    Category("Coffee Makers",
             ("Coffee Maker", "Drip Coffee Maker", "Espresso Machine", "Pour-Over Brewer"),
             ("Brewster", "Acme", "Caffetto", "Morningside", "Baristar"),
             ("BrewMaster", "Crema", "Sunrise", "Roastline", "Daybreak"),
             ("stainless steel", "borosilicate glass", "matte plastic", "ceramic"),
             ("Programmable", "12-Cup", "Single-Serve", "Thermal", "Grind-and-Brew"),
             ("Brews hot, rich coffee for the whole household every morning.",
              "A built-in warming plate keeps your coffee at drinking temperature.",
              "Coffee lovers get cafe-quality espresso and lattes at home."),
             70.0, "Kitchen"),
    Category("Headphones",
             ("Headphones", "Over-Ear Headphones", "Earbuds", "On-Ear Headphones"),
             ("Sonora", "Acme", "Auralis", "Bassline", "Tonewood"),
             ("SoundWave", "Pulse", "Echo", "Studio", "Resonance"),
             ("memory foam cushions", "aluminium", "soft-touch plastic", "vegan leather"),
             ("Wireless", "Noise-Cancelling", "Bluetooth", "Foldable", "Sports"),
             ("Deep bass and clear highs for music, calls and podcasts.",
              "Up to 30 hours of listening on a single charge.",
              "Listeners enjoy studio sound wherever they go."),
             110.0, "Audio"),
    Category("Yoga Mats",
             ("Yoga Mat", "Exercise Mat", "Travel Yoga Mat", "Pilates Mat"),
             ("Lotusleaf", "Zenform", "Acme", "Stillpoint", "Asanaware"),
             ("Flow", "Balance", "Sun Salute", "Harmony", "Grounded"),
             ("natural rubber", "TPE foam", "cork", "PVC-free foam"),
             ("Non-Slip", "Extra-Thick", "Eco-Friendly", "Foldable", "Alignment-Lines"),
             ("Gives steady grip and cushioning for yoga, pilates and stretching.",
              "Rolls up light for carrying to the studio.",
              "A textured surface keeps hands and feet in place during every pose."),
             35.0, "Sports"),
    Category("Backpacks",
             ("Backpack", "Hiking Backpack", "Laptop Backpack", "Daypack"),
             ("Northpeak", "Trailhaus", "Acme", "Urbanpack", "Ridgeline"),
             ("Commuter", "Summit", "Voyager", "Ranger", "Metro"),
             ("ripstop nylon", "waxed canvas", "recycled polyester", "full-grain leather"),
             ("Waterproof", "Anti-Theft", "Lightweight", "Rolltop", "Padded"),
             ("Carries a laptop, lunch and a rain shell with room to spare.",
              "Padded straps keep the pack comfortable on long hikes and commutes.",
              "Plenty of pockets keep travel gear organised."),
             65.0, "Outdoor"),
    Category("Water Bottles",
             ("Water Bottle", "Insulated Bottle", "Sports Bottle", "Tumbler"),
             ("Hydrafy", "Acme", "Coldkeep", "Streamline", "Wellspring"),
             ("Everyday", "Summit", "Chill", "Trek", "Splash"),
             ("stainless steel", "BPA-free plastic", "glass", "titanium"),
             ("Insulated", "Leak-Proof", "Collapsible", "Filtered", "Wide-Mouth"),
             ("Keeps drinks cold for 24 hours and hot for 12.",
              "Fits in cup holders and backpack side pockets.",
              "Stay hydrated at the gym, the office and on the trail."),
             25.0, "Outdoor"),
    Category("Blenders",
             ("Blender", "Personal Blender", "Countertop Blender", "Immersion Blender"),
             ("Vortexa", "Acme", "Blendwise", "Kitchenry", "Puree Co"),
             ("PowerBlend", "Smoothie", "Nutri", "Whirl", "Crush"),
             ("BPA-free Tritan", "glass jar", "stainless steel", "brushed aluminium"),
             ("High-Speed", "Cordless", "Quiet", "Vacuum", "Self-Cleaning"),
             ("Crushes ice and frozen fruit into silky smoothies in seconds.",
              "Makes soups, sauces and nut butters with one touch.",
              "A blender that handles breakfast shakes and dinner prep alike."),
             80.0, "Kitchen"),
    Category("Smartwatches",
             ("Smartwatch", "Fitness Tracker", "GPS Watch", "Sport Watch"),
             ("Chronix", "Acme", "Pulsar Labs", "Wristwise", "Fitora"),
             ("Active", "Vital", "Orbit", "Endure", "Sprint"),
             ("aluminium case", "silicone band", "stainless steel case", "titanium case"),
             ("GPS", "Heart-Rate", "Waterproof", "Solar", "Sleep-Tracking"),
             ("Tracks steps, heart rate, sleep and workouts on your wrist.",
              "Notifications, music control and a week of battery life.",
              "Built-in GPS maps every run and ride."),
             150.0, "Sports"),
    Category("Desk Lamps",
             ("Desk Lamp", "LED Desk Lamp", "Reading Lamp", "Architect Lamp"),
             ("Lumina", "Acme", "Brightwell", "Lamplight", "Glowhaus"),
             ("Focus", "Halo", "Studio", "Beam", "Arc"),
             ("brushed aluminium", "matte steel", "walnut wood", "ABS plastic"),
             ("Dimmable", "Wireless-Charging", "Clamp-On", "Touch-Control", "Swing-Arm"),
             ("Flicker-free light for reading, studying and late-night work.",
              "Adjustable colour temperature from warm to daylight.",
              "A lamp that lights the desk without glare on the screen."),
             40.0, "Home Office"),
    Category("Office Chairs",
             ("Office Chair", "Ergonomic Chair", "Gaming Chair", "Task Chair"),
             ("Sitwell", "Acme", "Posturo", "Deskform", "Ergonix"),
             ("Executive", "Comfort", "Pro Seat", "Lumbar", "Pilot"),
             ("breathable mesh", "bonded leather", "woven fabric", "memory foam"),
             ("Ergonomic", "Reclining", "Adjustable", "Lumbar-Support", "Swivel"),
             ("Supports the back through long days at the desk.",
              "Adjustable armrests, seat height and tilt fit every body.",
              "A chair that makes the home office comfortable."),
             180.0, "Home Office"),
    Category("Cookware",
             ("Cookware Set", "Frying Pan", "Saucepan Set", "Dutch Oven"),
             ("Ironhearth", "Acme", "Panova", "Saute & Co", "Copperfield"),
             ("Classic", "Chef Series", "Everyday", "Heritage", "Pro Kitchen"),
             ("cast iron", "tri-ply stainless steel", "ceramic", "hard-anodised aluminium"),
             ("Nonstick", "Induction-Ready", "Oven-Safe", "Dishwasher-Safe", "Enamelled"),
             ("Heats evenly for searing, simmering and braising.",
              "Pans that go from the stovetop to the oven to the table.",
              "Home cooks love the easy clean-up."),
             90.0, "Kitchen"),
    Category("Skincare",
             ("Face Moisturizer", "Face Serum", "Night Cream", "Sunscreen"),
             ("Dermaluxe", "Purely", "Acme", "Glowry", "Verdance"),
             ("Hydra", "Radiance", "Renew", "Daily Defense", "Calm"),
             ("hyaluronic acid", "vitamin C", "retinol", "aloe vera"),
             ("Fragrance-Free", "Hydrating", "SPF 30", "Anti-Aging", "Oil-Free"),
             ("Gentle skincare for dry and sensitive skin.",
              "Absorbs quickly and leaves skin soft and smooth.",
              "A skincare step for a healthy glow morning and night."),
             28.0, "Personal Care"),
    Category("Board Games",
             ("Board Game", "Strategy Game", "Party Game", "Card Game"),
             ("Meeple Works", "Acme", "Rollhouse", "Tabletop Co", "Gambit"),
             ("Kingdoms", "Star Traders", "Island Quest", "Word Rush", "Dungeon Delve"),
             ("wooden pieces", "linen-finish cards", "cardboard tiles", "plastic miniatures"),
             ("Cooperative", "Family", "2-Player", "Expansion", "Deluxe"),
             ("A game night favourite for 2 to 6 players.",
              "Easy to learn, with strategy that rewards replay.",
              "Friends and family gather round the table for an hour of fun."),
             35.0, "Games"),
    Category("Tents",
             ("Tent", "Camping Tent", "Backpacking Tent", "Pop-Up Tent"),
             ("Northpeak", "Campfire", "Acme", "Ridgeline", "Wildhaven"),
             ("Basecamp", "Trail Dome", "Summit", "Meadow", "Horizon"),
             ("ripstop nylon", "polyester", "cotton canvas", "silnylon"),
             ("2-Person", "4-Person", "Ultralight", "Instant-Setup", "Weatherproof"),
             ("Sets up in minutes and stays dry through a night of rain.",
              "Roomy enough for sleeping pads and gear for a camping weekend.",
              "A tent for backpacking trips and family campsites."),
             140.0, "Outdoor"),
    Category("Bike Helmets",
             ("Bike Helmet", "Cycling Helmet", "MIPS Helmet", "Commuter Helmet"),
             ("Velocap", "Acme", "Spokesafe", "Cranklabs", "Pelotonic"),
             ("Aero", "Urban", "Road Pro", "Gravel", "Cruise"),
             ("EPS foam", "polycarbonate shell", "carbon fibre", "in-mould foam"),
             ("Aero", "Ventilated", "LED-Light", "Lightweight", "Adjustable"),
             ("Protects riders on road bikes, gravel and the daily commute.",
              "Vents keep your head cool on long climbs.",
              "A cycling helmet certified for safety."),
             70.0, "Sports"),
    Category("Electric Toothbrushes",
             ("Electric Toothbrush", "Sonic Toothbrush", "Rotating Toothbrush",
              "Kids Toothbrush"),
             ("Brightsmile", "Acme", "Dentiva", "Sonique", "Pearlcare"),
             ("Clean", "Gum Care", "White Pro", "Daily", "Fresh"),
             ("soft bristles", "charcoal bristles", "brush heads", "travel case"),
             ("Rechargeable", "Pressure-Sensor", "Travel", "Whitening", "Smart-Timer"),
             ("Removes more plaque than a manual toothbrush.",
              "A two-minute timer helps you brush like your dentist recommends.",
              "Gentle on gums and tough on stains."),
             55.0, "Personal Care"),
    Category("Bluetooth Speakers",
             ("Bluetooth Speaker", "Portable Speaker", "Smart Speaker", "Party Speaker"),
             ("Sonora", "Boomcraft", "Acme", "Auralis", "Loudhaus"),
             ("Boom", "Wave", "Roam", "Beat", "Echo"),
             ("fabric grille", "rubberised shell", "aluminium", "recycled plastic"),
             ("Waterproof", "Bass-Boost", "Rugged", "360-Degree", "Voice-Assistant"),
             ("Room-filling sound for the beach, the backyard and the kitchen.",
              "Pair two speakers for stereo sound at parties.",
              "A speaker with twelve hours of music per charge."),
             75.0, "Audio"),
    Category("Dog Beds",
             ("Dog Bed", "Orthopedic Dog Bed", "Pet Bed", "Dog Crate Pad"),
             ("Pawsome", "Acme", "Snoozehound", "Barkley", "Furhaven"),
             ("Cozy Den", "Cuddler", "Lounger", "Nest", "Bolster"),
             ("memory foam", "sherpa fleece", "canvas", "faux fur"),
             ("Orthopedic", "Washable", "Calming", "Chew-Resistant", "Waterproof"),
             ("Gives dogs of every size a comfortable place to sleep.",
              "A removable, machine-washable cover keeps the dog bed fresh.",
              "Senior dogs rest easier on supportive foam."),
             50.0, "Pets"),
    Category("Kitchen Knives",
             ("Chef's Knife", "Knife Set", "Santoku Knife", "Paring Knife"),
             ("Edgecraft", "Acme", "Bladesmith", "Hinoki", "Cutwell"),
             ("Professional", "Classic", "Damask", "Artisan", "Prep"),
             ("German steel", "Damascus steel", "ceramic", "high-carbon steel"),
             ("Forged", "Razor-Sharp", "Full-Tang", "Ergonomic", "Stain-Resistant"),
             ("Slices, dices and minces with precision in every kitchen.",
              "A balanced knife that stays sharp through months of cooking.",
              "The kitchen knife home cooks reach for first."),
             60.0, "Kitchen"),
    Category("Rain Jackets",
             ("Rain Jacket", "Shell Jacket", "Packable Jacket", "Windbreaker"),
             ("Northpeak", "Stormline", "Acme", "Drizzle Co", "Trailhaus"),
             ("Storm", "Cloudburst", "Alpine", "Drift", "Monsoon"),
             ("Gore-Tex", "ripstop nylon", "recycled polyester", "waxed cotton"),
             ("Waterproof", "Packable", "Hooded", "Breathable", "Insulated"),
             ("Keeps you dry in downpours on the trail and in the city.",
              "Packs into its own pocket for travel.",
              "A rain jacket with taped seams and an adjustable hood."),
             120.0, "Outdoor"),
)

#: Departments: groups of related categories, in catalogue order. A customer's tastes span one
#: to three departments, and products are bought together with complements from their own
#: department (a cookware set with a chef's knife, a tent with a backpack).
DEPARTMENTS: dict[str, tuple[str, ...]] = {
    d: tuple(c.name for c in CATEGORIES if c.department == d)
    for d in dict.fromkeys(c.department for c in CATEGORIES)
}

#: Departments that the same customers often shop in: a customer's second and third
#: departments are drawn six times as often among those related to the ones already chosen.
RELATED_DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("Outdoor", "Sports"), ("Sports", "Audio"), ("Audio", "Home Office"), ("Games", "Pets"),
)


def related_categories(category: str) -> frozenset[str]:
    """The categories of ``category``'s department (itself included).

    Raises
    ------
    KeyError
        ``category`` is not a demo-shop category.
    """
    for c in CATEGORIES:
        if c.name == category:
            return frozenset(DEPARTMENTS[c.department])
    raise KeyError(f"not a demo-shop category: {category!r}")
