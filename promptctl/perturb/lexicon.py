"""The built-in word lists of the word and fairness families, as constants (no file to
ship, nothing to download). Changing an entry changes the perturbed inputs, hence the
cells' cache keys and what a baseline compares against: add to the lists, and say so in
the changelog.

- SYNONYMS: 172 common English words, each with one to three single-word synonyms that
  keep the meaning in most contexts (same part of speech and inflection; no word whose
  common senses differ, such as "right" or "fine"). A word that is also often another
  part of speech or tense keeps only the synonyms that fit both readings ("help" ->
  "aid", as "need help" and "help me" both allow; "started" -> "commenced", as "has
  started" and "started it" both allow), or is left out when none does ("use", "used
  to", "need to", "a little", "good enough", "for sure", "has arrived").
- TAUTOLOGIES: StressTest's appended clauses (Naik et al. 2018, "Stress Test Evaluation
  for Natural Language Inference": "and true is true", "and false is not true") and the
  same pattern in other words.
- DISTRACTORS: sentences unrelated to any task a prompt would have, with no instruction,
  number, name or negation in them.
- PRONOUNS, NAMES, TERMS: the counterfactual pairs, each swapped both ways (fairness.py
  resolves her/his, which pair with two words each).
"""

from __future__ import annotations

SYNONYMS: dict[str, tuple[str, ...]] = {
    # adjectives
    "big": ("large", "huge"), "large": ("big", "huge"), "huge": ("enormous", "vast"),
    "small": ("little", "tiny"), "tiny": ("miniature", "little"),
    "fast": ("quick", "rapid"), "quick": ("fast", "rapid"), "rapid": ("quick", "swift"),
    "slow": ("sluggish", "unhurried"), "happy": ("glad", "cheerful", "pleased"),
    "glad": ("happy", "pleased"), "sad": ("unhappy", "sorrowful"),
    "angry": ("annoyed", "furious"), "good": ("great", "excellent"),
    "great": ("excellent", "wonderful"), "bad": ("poor", "awful"),
    "terrible": ("awful", "dreadful"), "awful": ("terrible", "dreadful"),
    "easy": ("simple", "effortless"), "simple": ("easy", "plain"),
    "difficult": ("hard", "tough"), "important": ("significant", "crucial"),
    "necessary": ("required", "essential"), "new": ("recent", "fresh"),
    "ancient": ("old", "antique"), "beautiful": ("lovely", "gorgeous"),
    "ugly": ("unattractive", "hideous"), "smart": ("clever", "intelligent"),
    "clever": ("smart", "bright"), "stupid": ("foolish", "dumb"),
    "strange": ("odd", "weird"), "weird": ("strange", "bizarre"),
    "rich": ("wealthy", "affluent"), "tired": ("exhausted", "weary"),
    "afraid": ("scared", "frightened"), "scared": ("afraid", "frightened"),
    "quiet": ("silent", "calm"), "loud": ("noisy", "booming"),
    "wrong": ("incorrect", "mistaken"), "incorrect": ("wrong", "inaccurate"),
    "broken": ("damaged", "faulty"), "damaged": ("broken", "harmed"),
    "careful": ("cautious", "attentive"), "polite": ("courteous", "respectful"),
    "rude": ("impolite", "discourteous"), "honest": ("truthful", "sincere"),
    "safe": ("secure", "protected"), "dangerous": ("hazardous", "risky"),
    "busy": ("occupied", "engaged"), "entire": ("whole", "complete"),
    "whole": ("entire", "complete"),
    "famous": ("renowned", "celebrated"), "common": ("usual", "frequent"),
    "usual": ("normal", "typical"), "typical": ("usual", "normal"),
    "unusual": ("uncommon", "atypical"), "obvious": ("clear", "evident"),
    "urgent": ("pressing", "critical"),
    "late": ("delayed", "overdue"), "main": ("primary", "principal"),
    "expensive": ("costly", "pricey"), "cheap": ("inexpensive", "affordable"),
    "wide": ("broad", "spacious"), "narrow": ("thin", "slim"),
    "angrier": ("madder",), "happier": ("gladder",), "bigger": ("larger",),
    "smaller": ("tinier",), "faster": ("quicker",), "easier": ("simpler",),
    # adverbs
    "quickly": ("rapidly", "swiftly", "fast"), "slowly": ("gradually", "unhurriedly"),
    "often": ("frequently", "regularly"), "usually": ("normally", "generally"),
    "rarely": ("seldom", "infrequently"), "maybe": ("perhaps", "possibly"),
    "perhaps": ("maybe", "possibly"), "completely": ("entirely", "totally", "fully"),
    "totally": ("completely", "entirely"), "nearly": ("almost", "practically"),
    "almost": ("nearly", "practically"), "also": ("too", "additionally"),
    "immediately": ("instantly", "promptly"), "soon": ("shortly",),
    "very": ("really", "extremely"), "really": ("truly", "genuinely"),
    "probably": ("likely", "presumably"), "especially": ("particularly", "notably"),
    "recently": ("lately",), "finally": ("eventually", "ultimately"),
    # verbs
    "begin": ("start", "commence"), "started": ("commenced",),
    "finish": ("complete", "conclude"), "finished": ("completed", "concluded"),
    "stop": ("halt",), "buy": ("purchase", "acquire"),
    "bought": ("purchased", "acquired"), "purchase": ("buy",),
    "help": ("aid",), "helped": ("assisted", "aided"),
    "receive": ("get", "obtain"), "received": ("got", "obtained"),
    "show": ("display", "reveal"),
    "want": ("desire",), "wants": ("desires",), "try": ("attempt",),
    "tried": ("attempted",), "fix": ("repair", "mend"), "repair": ("fix", "mend"),
    "choose": ("select", "pick"), "chose": ("selected", "picked"),
    "answer": ("reply",), "reply": ("answer",), "send": ("dispatch", "transmit"),
    "sent": ("dispatched", "transmitted"), "cancel": ("revoke", "annul"),
    "cancelled": ("revoked", "annulled"), "canceled": ("revoked", "annulled"),
    "explain": ("clarify", "describe"), "understand": ("comprehend", "grasp"),
    "think": ("believe", "suppose"), "believe": ("think", "suppose"),
    "allowed": ("permitted",), "build": ("construct", "assemble"),
    "find": ("locate", "discover"), "found": ("located", "discovered"),
    "say": ("state", "mention"), "said": ("stated", "mentioned"),
    "talk": ("chat",), "speak": ("talk",), "shout": ("yell", "holler"),
    "walk": ("stroll", "wander"), "jump": ("leap", "hop"), "eat": ("consume", "devour"),
    "charged": ("billed",), "refunded": ("reimbursed", "repaid"),
    "arrive": ("come",), "ordered": ("purchased",), "contacted": ("reached",),
    # nouns
    "problem": ("issue", "trouble"), "problems": ("issues", "troubles"),
    "error": ("mistake", "fault"), "errors": ("mistakes", "faults"),
    "mistake": ("error", "slip"), "question": ("query", "inquiry"),
    "questions": ("queries", "inquiries"), "car": ("automobile", "vehicle"),
    "house": ("home", "residence"), "job": ("work", "occupation"),
    "money": ("cash", "funds"), "child": ("kid", "youngster"),
    "children": ("kids", "youngsters"), "friend": ("companion", "pal"),
    "gift": ("present",), "trip": ("journey", "voyage"), "road": ("street", "route"),
    "area": ("region", "zone"), "idea": ("notion", "concept"),
    "goal": ("aim", "objective"), "fear": ("dread", "fright"), "talent": ("gift", "flair"),
    "package": ("parcel",), "parcel": ("package",), "delivery": ("shipment",),
    "invoice": ("bill",), "price": ("cost", "charge"), "customer": ("client", "buyer"),
    "customers": ("clients", "buyers"), "client": ("customer",), "movie": ("film",),
    "film": ("movie",), "email": ("message",),
}

TAUTOLOGIES: tuple[str, ...] = (
    "and true is true",
    "and false is not true",
    "and one is one",
    "and up is not down",
)

DISTRACTORS: tuple[str, ...] = (
    "The weather has been mild this week.",
    "My neighbour's cat likes to sleep on the windowsill.",
    "Bananas are a good source of potassium.",
    "The library downtown reopened after its renovation.",
    "Some people prefer tea in the afternoon.",
    "The train was on time this morning.",
    "Autumn leaves turn red and yellow in the park.",
    "A new bakery opened around the corner.",
    "The museum has a large collection of old maps.",
    "Many birds migrate south for the winter.",
    "The river was calm at sunset.",
    "Painting the fence took the whole afternoon.",
)

PRONOUNS: tuple[tuple[str, str], ...] = (
    ("he", "she"), ("him", "her"), ("his", "her"), ("his", "hers"),
    ("himself", "herself"),
)

# First names, one man's and one woman's per pair, common in English-speaking countries;
# none is also a common word (no Will, Mark, Grace or Rose).
NAMES: tuple[tuple[str, str], ...] = (
    ("John", "Mary"), ("James", "Linda"), ("Robert", "Patricia"), ("Michael", "Jennifer"),
    ("David", "Susan"), ("William", "Elizabeth"), ("Richard", "Barbara"),
    ("Thomas", "Sarah"), ("Daniel", "Jessica"), ("Matthew", "Emily"), ("Anthony", "Karen"),
    ("Andrew", "Nancy"), ("Joseph", "Lisa"), ("Christopher", "Michelle"),
    ("Kevin", "Laura"), ("Brian", "Rebecca"), ("Steven", "Amanda"), ("Paul", "Helen"),
    ("Peter", "Anna"), ("George", "Emma"), ("Edward", "Olivia"), ("Charles", "Sophia"),
    ("Jason", "Rachel"), ("Eric", "Megan"),
)

# Group terms: gendered nouns and titles. "Mrs" is left alone: Mr <-> Ms is the pair.
TERMS: tuple[tuple[str, str], ...] = (
    ("man", "woman"), ("men", "women"), ("boy", "girl"), ("boys", "girls"),
    ("father", "mother"), ("fathers", "mothers"), ("son", "daughter"),
    ("sons", "daughters"), ("brother", "sister"), ("brothers", "sisters"),
    ("husband", "wife"), ("husbands", "wives"), ("uncle", "aunt"), ("uncles", "aunts"),
    ("nephew", "niece"), ("grandfather", "grandmother"), ("grandson", "granddaughter"),
    ("king", "queen"), ("prince", "princess"), ("gentleman", "lady"),
    ("gentlemen", "ladies"), ("sir", "madam"), ("mr", "ms"), ("male", "female"),
    ("males", "females"), ("boyfriend", "girlfriend"), ("dad", "mom"), ("dads", "moms"),
    ("grandpa", "grandma"), ("actor", "actress"), ("waiter", "waitress"),
    ("groom", "bride"), ("masculine", "feminine"), ("guy", "gal"),
)
