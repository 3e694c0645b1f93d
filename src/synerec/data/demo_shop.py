"""``demo-shop``: a small synthetic e-commerce shop generated on the fly.

The catalogue has up to 20 product categories (running shoes, coffee makers, headphones, ...),
each with its own nouns, brands, product lines, materials and features, so that an item's title
and description carry its category and attributes. Users have latent tastes: an affinity for
each category, a favourite colour, preferences over product features, a price sensitivity and a
personal rating bias. Which items a user rates depends on item popularity (a power law) and on
the user's tastes; the 1-5 rating depends on taste affinity, item quality (partly set by the
brand) and noise. Both a collaborative signal (users agree on good items; users rate their
favourite categories higher) and a text signal (titles name category, brand and features) exist.

Everything is drawn with vectorised numpy from one ``random_state``, so the same seed gives the
same data set, and generating the default size takes well under a second.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from synerec._rng import RandomState, check_random_state
from synerec.data.dataset import InteractionDataset
from synerec.data.registry import DatasetInfo, register_dataset
from synerec.data.vocabulary import Vocabulary
from synerec.exceptions import ConfigError

__all__ = ["CATEGORIES", "COLOURS", "Category", "generate_demo_shop"]

log = logging.getLogger(__name__)

#: 2023-01-01T00:00:00Z: the simulated year starts here.
YEAR_START = 1_672_531_200
YEAR_SECONDS = 365 * 24 * 3600

#: Colours shared by all categories (users have a favourite one).
COLOURS: tuple[str, ...] = ("Black", "White", "Navy", "Red", "Grey", "Olive", "Blue", "Pink",
                            "Teal", "Sand")

_MODELS = ("", "2", "3", "4", "5", "Pro", "Plus", "Max", "Lite", "X")


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
    """

    name: str
    nouns: tuple[str, ...]
    brands: tuple[str, ...]
    lines: tuple[str, ...]
    materials: tuple[str, ...]
    features: tuple[str, ...]
    uses: tuple[str, ...]
    base_price: float


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
             95.0),
    Category("Coffee Makers",
             ("Coffee Maker", "Drip Coffee Maker", "Espresso Machine", "Pour-Over Brewer"),
             ("Brewster", "Acme", "Caffetto", "Morningside", "Baristar"),
             ("BrewMaster", "Crema", "Sunrise", "Roastline", "Daybreak"),
             ("stainless steel", "borosilicate glass", "matte plastic", "ceramic"),
             ("Programmable", "12-Cup", "Single-Serve", "Thermal", "Grind-and-Brew"),
             ("Brews hot, rich coffee for the whole household every morning.",
              "A built-in warming plate keeps your coffee at drinking temperature.",
              "Coffee lovers get cafe-quality espresso and lattes at home."),
             70.0),
    Category("Headphones",
             ("Headphones", "Over-Ear Headphones", "Earbuds", "On-Ear Headphones"),
             ("Sonora", "Acme", "Auralis", "Bassline", "Tonewood"),
             ("SoundWave", "Pulse", "Echo", "Studio", "Resonance"),
             ("memory foam cushions", "aluminium", "soft-touch plastic", "vegan leather"),
             ("Wireless", "Noise-Cancelling", "Bluetooth", "Foldable", "Sports"),
             ("Deep bass and clear highs for music, calls and podcasts.",
              "Up to 30 hours of listening on a single charge.",
              "Listeners enjoy studio sound wherever they go."),
             110.0),
    Category("Yoga Mats",
             ("Yoga Mat", "Exercise Mat", "Travel Yoga Mat", "Pilates Mat"),
             ("Lotusleaf", "Zenform", "Acme", "Stillpoint", "Asanaware"),
             ("Flow", "Balance", "Sun Salute", "Harmony", "Grounded"),
             ("natural rubber", "TPE foam", "cork", "PVC-free foam"),
             ("Non-Slip", "Extra-Thick", "Eco-Friendly", "Foldable", "Alignment-Lines"),
             ("Gives steady grip and cushioning for yoga, pilates and stretching.",
              "Rolls up light for carrying to the studio.",
              "A textured surface keeps hands and feet in place during every pose."),
             35.0),
    Category("Backpacks",
             ("Backpack", "Hiking Backpack", "Laptop Backpack", "Daypack"),
             ("Northpeak", "Trailhaus", "Acme", "Urbanpack", "Ridgeline"),
             ("Commuter", "Summit", "Voyager", "Ranger", "Metro"),
             ("ripstop nylon", "waxed canvas", "recycled polyester", "full-grain leather"),
             ("Waterproof", "Anti-Theft", "Lightweight", "Rolltop", "Padded"),
             ("Carries a laptop, lunch and a rain shell with room to spare.",
              "Padded straps keep the pack comfortable on long hikes and commutes.",
              "Plenty of pockets keep travel gear organised."),
             65.0),
    Category("Water Bottles",
             ("Water Bottle", "Insulated Bottle", "Sports Bottle", "Tumbler"),
             ("Hydrafy", "Acme", "Coldkeep", "Streamline", "Wellspring"),
             ("Everyday", "Summit", "Chill", "Trek", "Splash"),
             ("stainless steel", "BPA-free plastic", "glass", "titanium"),
             ("Insulated", "Leak-Proof", "Collapsible", "Filtered", "Wide-Mouth"),
             ("Keeps drinks cold for 24 hours and hot for 12.",
              "Fits in cup holders and backpack side pockets.",
              "Stay hydrated at the gym, the office and on the trail."),
             25.0),
    Category("Blenders",
             ("Blender", "Personal Blender", "Countertop Blender", "Immersion Blender"),
             ("Vortexa", "Acme", "Blendwise", "Kitchenry", "Puree Co"),
             ("PowerBlend", "Smoothie", "Nutri", "Whirl", "Crush"),
             ("BPA-free Tritan", "glass jar", "stainless steel", "brushed aluminium"),
             ("High-Speed", "Cordless", "Quiet", "Vacuum", "Self-Cleaning"),
             ("Crushes ice and frozen fruit into silky smoothies in seconds.",
              "Makes soups, sauces and nut butters with one touch.",
              "A blender that handles breakfast shakes and dinner prep alike."),
             80.0),
    Category("Smartwatches",
             ("Smartwatch", "Fitness Tracker", "GPS Watch", "Sport Watch"),
             ("Chronix", "Acme", "Pulsar Labs", "Wristwise", "Fitora"),
             ("Active", "Vital", "Orbit", "Endure", "Sprint"),
             ("aluminium case", "silicone band", "stainless steel case", "titanium case"),
             ("GPS", "Heart-Rate", "Waterproof", "Solar", "Sleep-Tracking"),
             ("Tracks steps, heart rate, sleep and workouts on your wrist.",
              "Notifications, music control and a week of battery life.",
              "Built-in GPS maps every run and ride."),
             150.0),
    Category("Desk Lamps",
             ("Desk Lamp", "LED Desk Lamp", "Reading Lamp", "Architect Lamp"),
             ("Lumina", "Acme", "Brightwell", "Lamplight", "Glowhaus"),
             ("Focus", "Halo", "Studio", "Beam", "Arc"),
             ("brushed aluminium", "matte steel", "walnut wood", "ABS plastic"),
             ("Dimmable", "Wireless-Charging", "Clamp-On", "Touch-Control", "Swing-Arm"),
             ("Flicker-free light for reading, studying and late-night work.",
              "Adjustable colour temperature from warm to daylight.",
              "A lamp that lights the desk without glare on the screen."),
             40.0),
    Category("Office Chairs",
             ("Office Chair", "Ergonomic Chair", "Gaming Chair", "Task Chair"),
             ("Sitwell", "Acme", "Posturo", "Deskform", "Ergonix"),
             ("Executive", "Comfort", "Pro Seat", "Lumbar", "Pilot"),
             ("breathable mesh", "bonded leather", "woven fabric", "memory foam"),
             ("Ergonomic", "Reclining", "Adjustable", "Lumbar-Support", "Swivel"),
             ("Supports the back through long days at the desk.",
              "Adjustable armrests, seat height and tilt fit every body.",
              "A chair that makes the home office comfortable."),
             180.0),
    Category("Cookware",
             ("Cookware Set", "Frying Pan", "Saucepan Set", "Dutch Oven"),
             ("Ironhearth", "Acme", "Panova", "Saute & Co", "Copperfield"),
             ("Classic", "Chef Series", "Everyday", "Heritage", "Pro Kitchen"),
             ("cast iron", "tri-ply stainless steel", "ceramic", "hard-anodised aluminium"),
             ("Nonstick", "Induction-Ready", "Oven-Safe", "Dishwasher-Safe", "Enamelled"),
             ("Heats evenly for searing, simmering and braising.",
              "Pans that go from the stovetop to the oven to the table.",
              "Home cooks love the easy clean-up."),
             90.0),
    Category("Skincare",
             ("Face Moisturizer", "Face Serum", "Night Cream", "Sunscreen"),
             ("Dermaluxe", "Purely", "Acme", "Glowry", "Verdance"),
             ("Hydra", "Radiance", "Renew", "Daily Defense", "Calm"),
             ("hyaluronic acid", "vitamin C", "retinol", "aloe vera"),
             ("Fragrance-Free", "Hydrating", "SPF 30", "Anti-Aging", "Oil-Free"),
             ("Gentle skincare for dry and sensitive skin.",
              "Absorbs quickly and leaves skin soft and smooth.",
              "A skincare step for a healthy glow morning and night."),
             28.0),
    Category("Board Games",
             ("Board Game", "Strategy Game", "Party Game", "Card Game"),
             ("Meeple Works", "Acme", "Rollhouse", "Tabletop Co", "Gambit"),
             ("Kingdoms", "Star Traders", "Island Quest", "Word Rush", "Dungeon Delve"),
             ("wooden pieces", "linen-finish cards", "cardboard tiles", "plastic miniatures"),
             ("Cooperative", "Family", "2-Player", "Expansion", "Deluxe"),
             ("A game night favourite for 2 to 6 players.",
              "Easy to learn, with strategy that rewards replay.",
              "Friends and family gather round the table for an hour of fun."),
             35.0),
    Category("Tents",
             ("Tent", "Camping Tent", "Backpacking Tent", "Pop-Up Tent"),
             ("Northpeak", "Campfire", "Acme", "Ridgeline", "Wildhaven"),
             ("Basecamp", "Trail Dome", "Summit", "Meadow", "Horizon"),
             ("ripstop nylon", "polyester", "cotton canvas", "silnylon"),
             ("2-Person", "4-Person", "Ultralight", "Instant-Setup", "Weatherproof"),
             ("Sets up in minutes and stays dry through a night of rain.",
              "Roomy enough for sleeping pads and gear for a camping weekend.",
              "A tent for backpacking trips and family campsites."),
             140.0),
    Category("Bike Helmets",
             ("Bike Helmet", "Cycling Helmet", "MIPS Helmet", "Commuter Helmet"),
             ("Velocap", "Acme", "Spokesafe", "Cranklabs", "Pelotonic"),
             ("Aero", "Urban", "Road Pro", "Gravel", "Cruise"),
             ("EPS foam", "polycarbonate shell", "carbon fibre", "in-mould foam"),
             ("Aero", "Ventilated", "LED-Light", "Lightweight", "Adjustable"),
             ("Protects riders on road bikes, gravel and the daily commute.",
              "Vents keep your head cool on long climbs.",
              "A cycling helmet certified for safety."),
             70.0),
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
             55.0),
    Category("Bluetooth Speakers",
             ("Bluetooth Speaker", "Portable Speaker", "Smart Speaker", "Party Speaker"),
             ("Sonora", "Boomcraft", "Acme", "Auralis", "Loudhaus"),
             ("Boom", "Wave", "Roam", "Beat", "Echo"),
             ("fabric grille", "rubberised shell", "aluminium", "recycled plastic"),
             ("Waterproof", "Bass-Boost", "Rugged", "360-Degree", "Voice-Assistant"),
             ("Room-filling sound for the beach, the backyard and the kitchen.",
              "Pair two speakers for stereo sound at parties.",
              "A speaker with twelve hours of music per charge."),
             75.0),
    Category("Dog Beds",
             ("Dog Bed", "Orthopedic Dog Bed", "Pet Bed", "Dog Crate Pad"),
             ("Pawsome", "Acme", "Snoozehound", "Barkley", "Furhaven"),
             ("Cozy Den", "Cuddler", "Lounger", "Nest", "Bolster"),
             ("memory foam", "sherpa fleece", "canvas", "faux fur"),
             ("Orthopedic", "Washable", "Calming", "Chew-Resistant", "Waterproof"),
             ("Gives dogs of every size a comfortable place to sleep.",
              "A removable, machine-washable cover keeps the dog bed fresh.",
              "Senior dogs rest easier on supportive foam."),
             50.0),
    Category("Kitchen Knives",
             ("Chef's Knife", "Knife Set", "Santoku Knife", "Paring Knife"),
             ("Edgecraft", "Acme", "Bladesmith", "Hinoki", "Cutwell"),
             ("Professional", "Classic", "Damask", "Artisan", "Prep"),
             ("German steel", "Damascus steel", "ceramic", "high-carbon steel"),
             ("Forged", "Razor-Sharp", "Full-Tang", "Ergonomic", "Stain-Resistant"),
             ("Slices, dices and minces with precision in every kitchen.",
              "A balanced knife that stays sharp through months of cooking.",
              "The kitchen knife home cooks reach for first."),
             60.0),
    Category("Rain Jackets",
             ("Rain Jacket", "Shell Jacket", "Packable Jacket", "Windbreaker"),
             ("Northpeak", "Stormline", "Acme", "Drizzle Co", "Trailhaus"),
             ("Storm", "Cloudburst", "Alpine", "Drift", "Monsoon"),
             ("Gore-Tex", "ripstop nylon", "recycled polyester", "waxed cotton"),
             ("Waterproof", "Packable", "Hooded", "Breathable", "Insulated"),
             ("Keeps you dry in downpours on the trail and in the city.",
              "Packs into its own pocket for travel.",
              "A rain jacket with taped seams and an adjustable hood."),
             120.0),
)

_SEGMENTS = ("bargain hunter", "mainstream", "premium")
_REGIONS = ("north", "south", "east", "west", "central")


def generate_demo_shop(
    n_users: int = 1000,
    n_items: int = 2000,
    n_categories: int = 20,
    ratings_per_user: int = 40,
    random_state: RandomState = 42,
) -> InteractionDataset:
    """Generate the ``demo-shop`` data set: an e-commerce catalogue, users and their ratings.

    Parameters
    ----------
    n_users
        Number of users (each rates at least one item).
    n_items
        Number of catalogue items (items that nobody rates stay in the vocabulary).
    n_categories
        Number of product categories, 1 to ``len(CATEGORIES)`` (20).
    ratings_per_user
        Average number of ratings per user (the number varies from user to user).
    random_state
        Seed or generator; the same seed gives the same data set.

    Returns
    -------
    InteractionDataset
        Explicit 1-5 ratings with timestamps over one year (2023), each user's ratings in time
        order in the log; ``item_info`` with ``title``, ``description``, ``category``, ``brand``
        and ``price``; ``user_info`` with ``segment`` (from price sensitivity) and ``region``.

    Notes
    -----
    The generative model, for user :math:`u` and item :math:`i` of category :math:`c_i`:

    * selection weight :math:`\\log w_{ui} = \\log p_i + 1.5\\,a_{u c_i} + 0.5\\,[col_i = f_u]
      - 0.6\\,s_u z_i`, with power-law popularity :math:`p_i \\propto rank_i^{-1}`, category
      affinity :math:`a_{uc} \\sim N(0, 1)`, favourite colour :math:`f_u`, price sensitivity
      :math:`s_u` and within-category log-price z-score :math:`z_i`; items are drawn without
      replacement by the Gumbel-top-k trick;
    * rating :math:`r_{ui} = \\mathrm{clip}(\\mathrm{round}(3.1 + b_u + q_i + 0.45\\,a_{u c_i}
      + 0.35\\,[col_i = f_u] + g_{u, feat_i} - 0.4\\,s_u z_i + \\varepsilon), 1, 5)`, with user
      bias :math:`b_u`, item quality :math:`q_i` (brand quality + item noise + price),
      feature preference :math:`g` and noise :math:`\\varepsilon \\sim N(0, 0.8^2)`.
    """
    n_users, n_items = _positive_int(n_users, "n_users"), _positive_int(n_items, "n_items")
    n_categories = _positive_int(n_categories, "n_categories")
    ratings_per_user = _positive_int(ratings_per_user, "ratings_per_user")
    if n_categories > len(CATEGORIES):
        raise ConfigError(f"n_categories must be at most {len(CATEGORIES)}, got {n_categories}")
    if n_items < n_categories:
        raise ConfigError(f"n_items ({n_items}) must be at least n_categories ({n_categories})")
    if ratings_per_user > n_items:
        raise ConfigError(f"ratings_per_user ({ratings_per_user}) cannot exceed n_items "
                          f"({n_items})")
    rng = check_random_state(random_state)
    cats = CATEGORIES[:n_categories]

    items = _make_catalogue(rng, cats, n_items)
    users = _make_users(rng, n_users, n_categories)
    user_idx, item_idx = _choose_items(rng, items, users, ratings_per_user)
    ratings = _rate(rng, items, users, user_idx, item_idx)
    timestamps = _timestamps(rng, user_idx, n_users)

    order = np.lexsort((user_idx, timestamps))  # the log in time order
    user_idx, item_idx = user_idx[order], item_idx[order]
    ratings, timestamps = ratings[order], timestamps[order]

    user_ids = [f"u{k:0{len(str(n_users))}d}" for k in range(1, n_users + 1)]
    item_ids = [f"p{k:0{len(str(n_items))}d}" for k in range(1, n_items + 1)]
    item_info = pd.DataFrame(
        {
            "title": items["title"],
            "description": items["description"],
            "category": [cats[c].name for c in items["category"]],
            "brand": items["brand_name"],
            "price": items["price"],
        },
        index=pd.Index(item_ids, name="item_id"),
    )
    sens = users["price_sensitivity"]
    segment = np.where(sens > 0.65, 0, np.where(sens < 0.3, 2, 1))
    user_info = pd.DataFrame(
        {
            "segment": np.asarray(_SEGMENTS, dtype=object)[segment],
            "region": np.asarray(_REGIONS, dtype=object)[users["region"]],
        },
        index=pd.Index(user_ids, name="user_id"),
    )
    data = InteractionDataset(
        users=Vocabulary(user_ids, kind="user"),
        items=Vocabulary(item_ids, kind="item"),
        user_index=user_idx, item_index=item_idx, values=ratings, timestamps=timestamps,
        item_info=item_info, user_info=user_info, rating_scale=(1.0, 5.0), name="demo-shop",
    )
    log.info("generated demo-shop: %d users, %d items, %d ratings", n_users, n_items,
             data.n_interactions)
    return data


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _make_catalogue(rng: np.random.Generator, cats: tuple[Category, ...],
                    n_items: int) -> dict[str, Any]:
    n_cat = len(cats)
    # Uneven category sizes, each category non-empty.
    sizes = 1 + rng.multinomial(n_items - n_cat, rng.dirichlet(np.full(n_cat, 5.0)))
    category = rng.permutation(np.repeat(np.arange(n_cat), sizes))
    n_brands = len(cats[0].brands)
    brand = rng.integers(0, n_brands, n_items)  # tier 0 (budget) .. 4 (premium)
    brand_quality = rng.normal(0.0, 0.35, (n_cat, n_brands))
    noun = rng.integers(0, len(cats[0].nouns), n_items)
    line = rng.integers(0, len(cats[0].lines), n_items)
    material = rng.integers(0, len(cats[0].materials), n_items)
    feature = rng.integers(0, len(cats[0].features), n_items)
    use = rng.integers(0, len(cats[0].uses), n_items)
    model = rng.integers(0, len(_MODELS), n_items)
    colour = rng.integers(0, len(COLOURS), n_items)

    base = np.array([c.base_price for c in cats])[category]
    log_ratio = np.log(0.7 + 0.2 * brand) + rng.normal(0.0, 0.25, n_items)
    price = np.floor(base * np.exp(log_ratio)) + 0.99
    # Within-category standardised log price: what price-sensitive users react to.
    lp = np.log(price)
    mean = np.bincount(category, lp, n_cat) / np.bincount(category, minlength=n_cat)
    sq = np.bincount(category, (lp - mean[category]) ** 2, n_cat)
    std = np.sqrt(sq / np.bincount(category, minlength=n_cat))
    price_z = (lp - mean[category]) / np.where(std > 0, std, 1.0)[category]
    quality = (brand_quality[category, brand] + rng.normal(0.0, 0.45, n_items)
               + 0.15 * price_z)

    titles, descriptions, brand_names = [], [], []
    for i in range(n_items):
        c = cats[category[i]]
        b = c.brands[brand[i]]
        noun_i = c.nouns[noun[i]]
        model_i = f" {_MODELS[model[i]]}" if _MODELS[model[i]] else ""
        feat = c.features[feature[i]]
        titles.append(f"{b} {c.lines[line[i]]}{model_i} {feat} {noun_i} - {COLOURS[colour[i]]}")
        article = "An" if feat[0] in "AEIOU" else "A"
        descriptions.append(
            f"{article} {feat.lower()} {c.nouns[0].lower()} in {COLOURS[colour[i]].lower()}, "
            f"made with {c.materials[material[i]]}. {c.uses[use[i]]}")
        brand_names.append(b)
    return {
        "category": category, "brand": brand, "brand_name": brand_names, "feature": feature,
        "colour": colour, "price": price, "price_z": price_z, "quality": quality,
        "title": titles, "description": descriptions,
        # Popularity: a power law over ranks that follow quality loosely.
        "log_pop": -1.0 * np.log1p(np.argsort(np.argsort(-(quality + rng.normal(0, 1.0,
                                                                                   n_items))))),
    }


def _make_users(rng: np.random.Generator, n_users: int, n_cat: int) -> dict[str, np.ndarray]:
    return {
        "affinity": rng.normal(0.0, 1.0, (n_users, n_cat)),
        "colour": rng.integers(0, len(COLOURS), n_users),
        "feature_pref": rng.normal(0.0, 0.3, (n_users, len(CATEGORIES[0].features))),
        "price_sensitivity": rng.beta(2.0, 2.0, n_users),
        "bias": rng.normal(0.0, 0.35, n_users),
        "region": rng.integers(0, len(_REGIONS), n_users),
    }


def _choose_items(rng: np.random.Generator, items: dict[str, Any], users: dict[str, np.ndarray],
                  ratings_per_user: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw each user's rated items without replacement (Gumbel-top-k), in chunks of users."""
    n_users = len(users["bias"])
    n_items = len(items["category"])
    sigma = 0.6
    counts = np.rint(rng.lognormal(np.log(ratings_per_user) - sigma**2 / 2, sigma, n_users))
    counts = np.clip(counts, max(1, min(5, ratings_per_user // 2)), n_items).astype(np.int64)
    chunk = max(1, (1 << 21) // n_items)
    user_parts, item_parts = [], []
    for start in range(0, n_users, chunk):
        u = np.arange(start, min(n_users, start + chunk))
        match = users["colour"][u, None] == items["colour"][None, :]
        logw = (items["log_pop"][None, :] + 1.5 * users["affinity"][u][:, items["category"]]
                + 0.5 * match
                - 0.6 * users["price_sensitivity"][u, None] * items["price_z"][None, :])
        keys = logw + rng.gumbel(size=logw.shape)
        k = counts[u]
        kmax = int(k.max())
        top = (np.argpartition(-keys, kmax - 1, axis=1)[:, :kmax] if kmax < n_items
               else np.tile(np.arange(n_items), (len(u), 1)))
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, 1), axis=1), 1)
        keep = np.arange(kmax)[None, :] < k[:, None]
        user_parts.append(np.broadcast_to(u[:, None], top.shape)[keep])
        item_parts.append(top[keep])
    return np.concatenate(user_parts), np.concatenate(item_parts)


def _rate(rng: np.random.Generator, items: dict[str, Any], users: dict[str, np.ndarray],
          u: np.ndarray, i: np.ndarray) -> np.ndarray:
    score = (3.1 + users["bias"][u] + items["quality"][i]
             + 0.45 * users["affinity"][u, items["category"][i]]
             + 0.35 * (users["colour"][u] == items["colour"][i])
             + users["feature_pref"][u, items["feature"][i]]
             - 0.4 * users["price_sensitivity"][u] * items["price_z"][i]
             + rng.normal(0.0, 0.8, len(u)))
    return np.clip(np.rint(score), 1, 5).astype(np.float32)


def _timestamps(rng: np.random.Generator, u: np.ndarray, n_users: int) -> np.ndarray:
    """Times within each user's active window of the year, strictly increasing per user."""
    counts = np.bincount(u, minlength=n_users)
    start = rng.uniform(0.0, 0.7, n_users) * YEAR_SECONDS
    length = rng.uniform(0.1, 1.0, n_users) * (YEAR_SECONDS - start - counts.max() - 1)
    t = start[u] + rng.random(len(u)) * length[u]
    order = np.lexsort((t, u))  # by user, then time
    us = u[order]
    first = np.flatnonzero(np.r_[True, us[1:] != us[:-1]])
    rank = np.arange(len(u)) - np.repeat(first, np.diff(np.r_[first, len(u)]))
    out = np.empty(len(u), dtype=np.int64)
    out[order] = np.floor(t[order]).astype(np.int64) + rank  # +rank: no ties within a user
    return YEAR_START + out


register_dataset(DatasetInfo(
    name="demo-shop",
    description="Synthetic e-commerce shop: 1,000 users, 2,000 products in 20 categories, "
                "1-5 ratings with titles and descriptions (generated, no download)",
    files=(),
    loader=lambda folder, **kw: generate_demo_shop(**kw),
    source="generated by synerec.data.demo_shop",
    builtin=True,
))
