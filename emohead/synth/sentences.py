"""The script the synthetic actors read: sentences composed from one shared vocabulary (MEAD-like).

MEAD gives each emotion its own list of everyday English sentences (a few are shared by all emotions)
and every actor reads each list. Here a sentence is ``[prefix] subject action place/time`` with each part
taken from a fixed phrase bank (about 200 words, written for this project, phonetically varied: open
and rounded vowels, bilabial closures). Training sentence ``i`` uses part ``i mod len(bank)`` of every
bank; held-out sentences are new combinations of the parts the training sentences used, so their words
were heard in training (what lets the text feature g~ generalise) while the sentences themselves were not.
"""
from __future__ import annotations

import string

PREFIXES: tuple[str, ...] = ("", "", "Maybe ", "", "", "Oh, ", "")
SUBJECTS: tuple[str, ...] = (
    "she", "we", "Bob", "my mother", "the old man", "our team", "your father", "nobody", "the young boy",
    "Mark", "my sister", "the farmer", "his wife", "the doctor", "they", "Paul", "the music teacher",
    "a woman from work", "her brother", "the police", "Mary", "our neighbours", "the captain",
    "my best friend", "the baker", "you", "the children", "Uncle Tom", "the new boss", "Amy",
    "the whole family", "I", "the driver", "his mother", "a man in blue", "Judy", "the girls",
    "my grandfather", "the pilot", "he",
)
ACTIONS: tuple[str, ...] = (
    "rode a bike", "bought a blue boat", "made apple pie", "walked along the beach", "threw the ball",
    "found the book", "opened the window", "fetched the car", "moved the heavy boxes", "told a funny story",
    "played the piano", "washed the dishes", "swept the floor", "lost the money", "painted the door",
    "fixed the old radio", "called the office", "read the map", "carried the bags", "cooked a big meal",
    "sold the farm", "wrote a short poem", "sang a happy song", "cleaned the kitchen", "caught a fish",
    "visited the museum", "took the bus", "fed the cats", "hid the key", "locked the gate", "climbed the hill",
    "watched the moon", "drank warm milk", "baked fresh bread", "broke a cup", "paid the bill", "met the mayor",
    "kept a secret", "lit a fire", "packed a bag", "picked some oranges",
)
PLACES: tuple[str, ...] = (
    "before noon", "by the pier", "on Monday", "at sunset", "in the morning", "after the game", "at night",
    "last week", "in May", "near the market", "by the sea", "on the hill", "in the rain", "after lunch",
    "before dinner", "on Friday", "at the park", "in the city", "by the old bridge", "at the station",
    "near the river", "in the garden", "on a cold day", "at home", "with a smile", "without a word",
    "in a hurry", "for the party", "all year", "every summer", "two days ago", "this afternoon", "at dawn",
    "near the school", "by the main gate", "in the snow", "on the way home", "under the moon",
    "after the show", "in the evening", "at the farm", "on Sunday", "before the storm",
)
ENDINGS: tuple[str, ...] = (".", ".", "?", ".", "!")
BANKS = (PREFIXES, SUBJECTS, ACTIONS, PLACES, ENDINGS)
MAX_TRAIN_SENTENCES = 1000
"""More would repeat parts too often to read as distinct sentences."""


def _text(parts: tuple[int, ...]) -> str:
    p, s, a, t, e = (bank[i] for bank, i in zip(BANKS, parts))
    subject = s if p else s[:1].upper() + s[1:]
    return f"{p}{subject} {a} {t}{e}"


def _train_parts(i: int) -> tuple[int, ...]:
    return tuple(i % len(bank) for bank in BANKS)


def compose_script(n_train: int, n_test: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``n_train`` training sentences and ``n_test`` held-out ones recombining the training parts."""
    if not 1 <= n_train <= MAX_TRAIN_SENTENCES or n_test < 0:
        raise ValueError(f"{n_train} training sentences: choose between 1 and {MAX_TRAIN_SENTENCES}")
    train = [_train_parts(i) for i in range(n_train)]
    taken = {t[1:4] for t in train}
    test = []
    for k in range(n_test):
        for d in range(n_train * n_train):     # part j from training sentence k + d + j * step
            step = 1 + n_train // 5 + d // n_train
            src = [train[(k + d + j * step) % n_train] for j in range(len(BANKS))]
            parts = tuple(s[j] for j, s in enumerate(src))
            if parts[1:4] not in taken:
                break
        else:                                   # too few training sentences to recombine: unseen parts
            j = n_train + k
            while _train_parts(j)[1:4] in taken:
                j += 1
            parts = _train_parts(j)
        taken.add(parts[1:4])
        test.append(parts)
    return tuple(map(_text, train)), tuple(map(_text, test))


def words_of(sentence: str) -> list[str]:
    """Lower-cased words without surrounding punctuation (as the text feature sees them)."""
    words = (w.strip(string.punctuation).lower() for w in sentence.split())
    return [w for w in words if w]


def vocabulary_overlap(train: tuple[str, ...] | list[str], test: tuple[str, ...] | list[str]) -> float:
    """Fraction of the word tokens of ``test`` that occur in ``train`` (1.0 when ``test`` is empty)."""
    seen = {w for s in train for w in words_of(s)}
    tokens = [w for s in test for w in words_of(s)]
    return sum(w in seen for w in tokens) / len(tokens) if tokens else 1.0


def sentence_id(index: int) -> str:
    return f"s{index:02d}"
