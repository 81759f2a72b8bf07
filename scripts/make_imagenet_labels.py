"""Writes vidsearch/models/data/imagenet_labels.json: ImageNet-1k's 1,000 classes (in the models' output
order: WordNet ids sorted) as words a searcher would type.

Each class keeps WordNet's lemmas verbatim (`lemmas`, the published ILSVRC-2012 synset list) and gets:
  name    a readable name: the first lemma, or a clearer one where it is ambiguous ("crane" the bird)
  also    the other lemmas, less Latin binomials, lemmas that name another class, and a few misleading ones
  groups  broader words, most specific first ("cat", "pet", "animal"): hand-curated by ranges of the list,
          in the spirit of WordNet's hypernyms (the wordnet corpus is not available offline)
and the file lists the `topics`: broader words that are not a kind of thing ("animal", "kitchen",
"medical"). A class's first group, unless it is a topic, is its kind: the labeler adds up the
probabilities of the classes of one kind (the model's belief in "cat" or "dog", whichever breed).

Re-run it after changing the tables below: it reads the lemmas from the JSON file itself.
    python scripts/make_imagenet_labels.py [--from LOC_synset_mapping.txt]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "vidsearch" / "models" / "data" / "imagenet_labels.json"

ABOUT = (
    "ImageNet-1k (ILSVRC-2012) classes in model output order (WordNet ids sorted). 'lemmas' is WordNet's "
    "synset as published with the data set; 'name', 'also' and 'groups' are made from it by "
    "scripts/make_imagenet_labels.py: a readable name, the other common names (no Latin binomials, none "
    "naming another class), and broader words a searcher would use, most specific first, curated by hand "
    "along WordNet's hypernyms (dogs, cats, birds, vehicles, food, instruments, buildings ...). A class's "
    "first group is its kind unless it is listed in 'topics' (words too broad to name a thing by)."
)

# Broader words that are no kind of thing a frame would be labelled by: they never pool classes.
TOPICS = [
    "animal",
    "audio equipment",
    "bathroom",
    "bedding",
    "building",
    "clothing",
    "container",
    "drink",
    "electronics",
    "fairground",
    "farm",
    "fishing",
    "flag",
    "food",
    "furniture",
    "household appliance",
    "kitchen appliance",
    "kitchen utensil",
    "makeup",
    "medical",
    "musical instrument",
    "sport",
    "stationery",
    "street",
    "tool",
    "toy",
    "vehicle",
    "weapon",
    "window",
]

# Readable names where the first lemma is ambiguous or odd out of context.
NAMES: dict[int, str] = {
    7: "rooster",
    21: "kite (bird of prey)",
    97: "drake (duck)",
    101: "tusker (elephant)",
    134: "crane (bird)",
    339: "sorrel (horse)",
    608: "jeans",
    630: "loafer (shoe)",
    638: "maillot (leotard)",
    639: "swimsuit",
    664: "computer monitor",
    673: "computer mouse",
    714: "guitar pick",
    782: "screen",
    836: "sunglasses",
    847: "army tank",
    916: "website",
    989: "rose hip",
    998: "ear of grain",
}

# Lemmas that would send a search astray (WordNet's rarer senses).
DROP = {"sweet potato", "trump", "painter", "king of beasts", "grunter", "squealer", "red hot", "mole", "groin"}

# English two-word lemmas the Latin-binomial test would otherwise drop: their last words.
ENGLISH_LAST_WORDS = {
    "gray",
    "terrier",
    "crab",
    "malamute",
    "eagle",
    "robin",
    "rabbit",
    "wolf",
    "buffalo",
    "dog",
    "pinscher",
    "spaniel",
    "pointer",
    "lizard",
    "apso",
    "lobster",
    "crocodile",
    "wolfhound",
    "silky",
    "fence",
    "foxhound",
}


def _ranges(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


# (groups, class indexes): the later rows win for an index listed twice. Groups: specific first.
GROUPS: list[tuple[tuple[str, ...], str]] = [
    # --- animals -------------------------------------------------------------------------------
    (("fish", "animal"), "0-6, 389-397"),
    (("shark", "fish", "animal"), "2-4"),
    (("bird", "animal"), "7-24, 80-100, 127-146"),
    (("chicken", "bird", "animal"), "7-8"),
    (("owl", "bird", "animal"), "24"),
    (("parrot", "bird", "animal"), "87-90"),
    (("duck", "bird", "animal"), "97-98"),
    (("swan", "bird", "animal"), "100"),
    (("penguin", "bird", "animal"), "145"),
    (("salamander", "amphibian", "animal"), "25-29"),
    (("frog", "amphibian", "animal"), "30-32"),
    (("turtle", "reptile", "animal"), "33-37"),
    (("lizard", "reptile", "animal"), "38-48"),
    (("crocodile", "reptile", "animal"), "49-50"),
    (("dinosaur", "reptile", "animal"), "51"),
    (("snake", "reptile", "animal"), "52-68"),
    (("spider", "animal"), "72-77"),
    (("animal",), "69-71, 78-79, 102-106, 110-117, 126, 149, 298-299, 327-329, 333-338, 351-364, 369, 387"),
    (("elephant", "animal"), "101, 385-386"),
    (("kangaroo", "animal"), "104"),
    (("koala", "animal"), "105"),
    (("jellyfish", "sea creature", "animal"), "107"),
    (("coral", "sea creature", "animal"), "108-109"),
    (("snail", "animal"), "113-114"),
    (("crab", "seafood", "animal"), "118-121, 125"),
    (("lobster", "seafood", "animal"), "122-124"),
    (("whale", "sea creature", "animal"), "147-148"),
    (("seal", "sea creature", "animal"), "150"),
    (("dog", "pet", "animal"), "151-268"),
    (("wolf", "animal"), "269-272"),
    (("wild dog", "animal"), "273-275"),
    (("hyena", "animal"), "276"),
    (("fox", "animal"), "277-280"),
    (("cat", "pet", "animal"), "281-285"),
    (("big cat", "wild cat", "animal"), "286-293"),
    (("bear", "animal"), "294-297"),
    (("beetle", "insect", "animal"), "300-307"),
    (("insect", "animal"), "308-320"),
    (("butterfly", "insect", "animal"), "321-326"),
    (("rabbit", "animal"), "330-332"),
    (("rodent", "animal"), "333, 335-336, 338"),
    (("horse", "animal"), "339"),
    (("zebra", "horse", "animal"), "340"),
    (("pig", "animal"), "341-343"),
    (("hippo", "animal"), "344"),
    (("cattle", "cow", "animal"), "345-347"),
    (("sheep", "animal"), "348-349"),
    (("goat", "animal"), "350"),
    (("antelope", "deer", "animal"), "351-353"),
    (("camel", "animal"), "354-355"),
    (("ape", "monkey", "animal"), "365-369"),
    (("monkey", "animal"), "370-382"),
    (("lemur", "monkey", "animal"), "383-384"),
    (("panda", "bear", "animal"), "387-388"),
    (("salmon", "fish", "animal"), "391"),
    # --- vehicles ------------------------------------------------------------------------------
    (("car", "vehicle"), "407, 436, 468, 475, 479, 511, 535, 581, 609, 627, 656, 661, 751, 785, 817"),
    (("truck", "vehicle"), "555, 569, 675, 717, 734, 864, 867"),
    (("bus", "vehicle"), "654, 779, 874"),
    (("train", "railway", "vehicle"), "466, 547, 565, 705, 820, 829"),
    (("motorbike", "motorcycle", "scooter", "vehicle"), "665, 670"),
    (("bicycle", "bike", "vehicle"), "444, 671, 870, 880"),
    (("ship", "boat"), "403, 510, 628, 724, 780, 913"),
    (("boat",), "472, 484, 554, 576, 625, 693-694, 814, 871, 914"),
    (("submarine", "boat"), "833"),
    (("airplane", "plane", "aircraft"), "404, 895, 908"),
    (("aircraft",), "405"),
    (("rocket", "missile"), "657, 744"),
    (("spacecraft", "space shuttle", "rocket"), "812"),
    (("vehicle",), "408, 561, 573, 575, 586, 595, 603, 612, 690, 757, 802-803, 856, 866"),
    (("sled", "vehicle"), "450, 537"),
    (("cart",), "428, 791"),
    (("army tank", "military vehicle", "vehicle"), "847"),
    # --- food and drink ------------------------------------------------------------------------
    (("food",), "924-926, 932, 934-935, 960-962, 964-965"),
    (("dessert", "food"), "927-929"),
    (("bread", "food"), "930-931"),
    (("burger", "hamburger", "food"), "933"),
    (("pasta", "food"), "959"),
    (("pizza", "food"), "963"),
    (("vegetable", "food"), "936-946, 987"),
    (("mushroom", "fungus"), "947, 991-997"),
    (("apple", "fruit", "food"), "948"),
    (("fruit", "food"), "949-957"),
    (("wine", "drink"), "966, 907"),
    (("coffee", "drink"), "967, 505, 550"),
    (("cup",), "968, 647"),
    (("drink",), "969"),
    (("mug", "cup"), "504"),
    (("beer", "drink"), "440-441"),
    (("bottle",), "720, 737, 898"),
    (("jug",), "725, 899, 901"),
    (("tea", "teapot"), "849"),
    (("glass",), "572"),
    # --- household -----------------------------------------------------------------------------
    (("pot", "kitchen"), "469, 521, 544"),
    (("pan", "kitchen"), "567, 909"),
    (("kitchen utensil", "kitchen"), "473, 499, 503, 512, 618, 813, 828, 910"),
    (("bowl", "kitchen"), "659, 809"),
    (("plate", "kitchen"), "923, 729"),
    (("kitchen appliance", "kitchen"), "534, 651, 760, 766, 827, 859, 891"),
    (("chair", "furniture"), "423, 559, 765, 857"),
    (("table", "furniture"), "526, 532, 736"),
    (("bed", "furniture"), "431, 516, 520, 564"),
    (("sofa", "couch", "furniture"), "831"),
    (("bench", "furniture"), "703"),
    (("furniture",), "453, 492-493, 495, 548, 553, 648, 894"),
    (("lamp", "light"), "470, 619, 818, 846, 862"),
    (("bathroom",), "434-435, 794, 804, 861, 896, 999"),
    (("household appliance",), "545, 589, 606, 786, 811, 882, 897"),
    (("box", "container"), "478, 519, 709"),
    (("basket", "container"), "588, 790"),
    (("container",), "427, 463, 653, 692, 756, 876"),
    (("bag",), "414, 636, 728, 748, 797"),
    (("rug", "carpet"), "539, 741"),
    (("bedding",), "721, 750"),
    (("window",), "789, 799, 904-905"),
    # --- electronics ---------------------------------------------------------------------------
    (("phone", "telephone"), "487, 528, 707"),
    (("computer",), "527, 590, 592, 620, 662, 664, 673, 681"),
    (("keyboard", "computer"), "508, 810, 878"),
    (("screen", "display"), "782, 851, 916"),
    (("television", "TV", "screen"), "598, 851"),
    (("camera", "photography"), "622, 732, 759"),
    (("tripod", "camera stand", "photography"), "872"),
    (("audio equipment", "music"), "481-482, 485, 605, 632, 650, 754, 848"),
    (("electronics",), "480, 613, 688, 713, 742, 745, 761"),
    (("clock", "time"), "409, 530, 892"),
    (("watch", "time"), "531, 826"),
    # --- music ---------------------------------------------------------------------------------
    (("musical instrument", "music"), "401, 420, 432, 494, 558, 577, 593, 641-642, 683-684, 687, 699, 776, 875"),
    (("guitar", "musical instrument", "music"), "402, 546, 714"),
    (("violin", "string instrument", "musical instrument", "music"), "486, 889"),
    (("harp", "musical instrument", "music"), "594"),
    (("drum", "musical instrument", "music"), "541-542, 822"),
    (("trumpet", "brass instrument", "musical instrument", "music"), "513, 566"),
    (("piano", "musical instrument", "music"), "579, 881"),
    # --- buildings and places ------------------------------------------------------------------
    (("shop", "store", "building"), "415, 424, 454, 467, 509, 582, 788, 860, 865"),
    (("building",), "410, 425, 449, 498, 500, 580, 624, 634, 727, 743, 762, 900"),
    (("house", "home", "building"), "660, 915, 853"),
    (("roof", "building"), "858"),
    (("church", "religious building", "building"), "442, 497, 663"),
    (("temple", "religious building", "building"), "668, 832"),
    (("castle", "palace", "building"), "483, 698"),
    (("lighthouse", "building"), "437"),
    (("dome", "building"), "538"),
    (("monument",), "649, 682, 863, 873"),
    (("bridge",), "821, 839, 888"),
    (("fence",), "489, 716, 912"),
    (("wall",), "825"),
    (("harbour", "port", "sea"), "460, 536, 718"),
    (("oil rig", "platform", "offshore"), "540"),
    (("dam", "water"), "525"),
    (("fountain", "water"), "562"),
    (("tent", "camping"), "672"),
    (("stage", "theatre"), "819, 854"),
    (("fairground",), "476"),
    (("street",), "637, 640, 704, 919-920"),
    (("antenna", "dish"), "755, 807"),
    # --- nature --------------------------------------------------------------------------------
    (("mountain", "landscape", "nature"), "970, 980"),
    (("cliff", "landscape", "nature"), "972, 976"),
    (("sea", "underwater", "nature"), "973"),
    (("geyser", "landscape", "nature"), "974"),
    (("lake", "water", "landscape", "nature"), "975"),
    (("beach", "coast", "sea", "landscape", "nature"), "977-978"),
    (("valley", "landscape", "nature"), "979"),
    (("flower", "plant", "nature"), "984-986"),
    (("plant", "nature"), "958, 988-990, 998"),
    (("pot plant", "plant"), "738"),
    # --- people and activities -----------------------------------------------------------------
    (("baseball", "sport", "person"), "981"),
    (("wedding", "person"), "982"),
    (("diving", "underwater", "person"), "983"),
    (("ball", "sport"), "429-430, 522, 574, 722, 768, 805, 852, 890"),
    (("sport",), "746, 752, 795"),
    (("gymnastics", "sport"), "416, 602, 702"),
    (("gym", "sport"), "422, 543, 747"),
    (("helmet", "hat"), "518, 560, 715"),
    (("hat",), "433, 439, 452, 515, 667, 793, 808"),
    (("clothing", "clothes"), "399-400, 411, 443, 501, 529, 614, 617, 652, 697, 735, 775, 834, 841, 887"),
    (("dress", "clothing", "clothes"), "578"),
    (("skirt", "clothing", "clothes"), "601, 655, 689"),
    (("coat", "clothing", "clothes"), "568, 869"),
    (("sweater", "clothing", "clothes"), "474"),
    (("shirt", "T-shirt", "clothing", "clothes"), "610"),
    (("trousers", "clothing", "clothes"), "608"),
    (("swimwear", "clothing", "clothes"), "445, 638-639, 842"),
    (("underwear", "clothing", "clothes"), "459"),
    (("shoe", "footwear"), "502, 514, 630, 770, 774, 806"),
    (("tie", "clothing"), "451, 457, 906"),
    (("scarf", "clothing"), "552, 824"),
    (("glove", "clothing"), "658"),
    (("jewellery", "jewelry"), "679"),
    (("glasses", "eyewear"), "836-837, 447, 633"),
    (("mask",), "570, 643, 691, 796"),
    (("armour", "armor"), "461, 490, 524, 465"),
    (("makeup", "cosmetics"), "551, 629, 631, 711, 838, 585"),
    (("weapon",), "456, 471, 583, 777, 787"),
    (("gun", "weapon"), "413, 597, 763-764"),
    (("tool",), "462, 477, 491, 587, 596, 600, 621, 677, 726, 731, 740, 769, 783-784, 792, 840"),
    (("pen", "writing"), "418, 563, 749"),
    (("stationery", "office"), "446, 549, 623, 710, 767"),
    (("book", "reading"), "917, 921"),
    (("puzzle", "game"), "611, 646, 918"),
    (("toy",), "719, 723, 850"),
    (("lock", "security"), "507, 695"),
    (("medical",), "419, 523, 678, 720, 823, 830, 845"),
    (("Christmas",), "496"),
    (("Halloween", "pumpkin"), "607"),
    (("flag",), "557"),
    (("farm",), "730"),
    (("fishing",), "758"),
]


def _latin(lemma: str) -> bool:
    return bool(re.match(r"^[A-Z][a-z]+ [a-z]+( [a-z]+)?$", lemma)) and lemma.split()[-1] not in ENGLISH_LAST_WORDS


def build(lemmas: list[list[str]]) -> list[dict[str, object]]:
    if len(lemmas) != 1000:
        raise SystemExit(f"expected 1000 classes, got {len(lemmas)}")
    groups: dict[int, tuple[str, ...]] = {}
    for words, spec in GROUPS:
        for index in _ranges(spec):
            groups[index] = words
    firsts = {words[0].lower(): i for i, words in enumerate(lemmas)}
    out: list[dict[str, object]] = []
    for i, words in enumerate(lemmas):
        name = NAMES.get(i, words[0])
        also: list[str] = []
        for j, lemma in enumerate(words):
            if lemma == name or lemma in also or lemma.lower() in DROP or (j > 0 and _latin(lemma)):
                continue
            if firsts.get(lemma.lower(), i) != i:  # another class's name: not a synonym of this one
                continue
            also.append(lemma)
        out.append({"lemmas": words, "name": name, "also": also, "groups": list(groups.get(i, ()))})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", type=Path, help="a LOC_synset_mapping.txt ('wnid lemma, lemma')")
    args = parser.parse_args()
    if args.source:
        rows = [line.split(None, 1) for line in args.source.read_text().splitlines() if line.strip()]
        wnids = [wnid for wnid, _ in rows]
        lemmas = [[w.strip() for w in rest.lstrip(": ").split(",")] for _, rest in rows]
    else:
        existing = json.loads(OUT.read_text())
        wnids = [c["wnid"] for c in existing["classes"]]
        lemmas = [c["lemmas"] for c in existing["classes"]]
    if wnids != sorted(wnids):
        raise SystemExit("the classes must be in WordNet id order (the models' output order)")
    classes = [{"wnid": w, **c} for w, c in zip(wnids, build(lemmas), strict=True)]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"about": ABOUT, "topics": TOPICS, "classes": classes}, ensure_ascii=False, indent=None)
    # One class per line: readable in a diff.
    body = body.replace('[{"wnid"', '[\n{"wnid"').replace(', {"wnid"', ',\n{"wnid"')
    OUT.write_text(body + "\n")
    print(f"wrote {len(classes)} classes to {OUT}")


if __name__ == "__main__":
    main()
