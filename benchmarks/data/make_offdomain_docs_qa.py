"""Writes offdomain_docs_qa.json: 40 questions written by hand over software documentation (the
READMEs of five Python packages as they ship in their wheels' METADATA), SQuAD v1.1 format.

    python benchmarks/data/make_offdomain_docs_qa.py   (reads the installed packages' METADATA)

A second off-domain genre for the answer reader, which trains on product reviews, Reddit posts and
Wikipedia: technical prose with API names, versions, numbers and units. Each package is one article;
its prose paragraphs (code blocks and lists dropped) are the paragraphs, so the others are the
distractors. Answers are spans of the paragraphs; the script checks each is there.
Texts: python-dotenv (BSD-3-Clause), diskcache (Apache-2.0), pytz (MIT), threadpoolctl
(BSD-3-Clause), orjson (Apache-2.0 / MIT), quoted for evaluation with their names.
"""

import json
import re
from importlib.metadata import distribution
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGES = ["python-dotenv", "diskcache", "pytz", "threadpoolctl", "orjson"]
# (package, a phrase of the paragraph, question, answer span)
QA = [
    ("python-dotenv", "reads key-value pairs", "What does python-dotenv read key-value pairs from?", "a `.env` file"),
    (
        "python-dotenv",
        "reads key-value pairs",
        "Which principles does python-dotenv help applications follow?",
        "12-factor",
    ),
    ("python-dotenv", "Keys can be unquoted", "How can keys be quoted in a .env file?", "unquoted or single-quoted"),
    ("python-dotenv", "Keys can be unquoted", "Which directive can lines start with?", "`export`"),
    ("python-dotenv", "currently maintained by", "Who maintains python-dotenv?", "Saurabh Kumar"),
    (
        "diskcache",
        "Django is Python's most popular",
        "How long can it take to store a key in Django's file-based cache?",
        "sixty milliseconds",
    ),
    (
        "diskcache",
        "Django is Python's most popular",
        "Which Django cache is essentially broken?",
        "the file-based cache",
    ),
    (
        "diskcache",
        "DiskCache efficiently makes",
        "What does DiskCache leverage besides database libraries?",
        "memory-mapped files",
    ),
    ("diskcache", "DiskCache efficiently makes", "How much test coverage does DiskCache have?", "100% coverage"),
    (
        "diskcache",
        "useful, simple API",
        "By how much did DiskCache reduce the queries hitting the Elasticsearch cluster?",
        "over 25%",
    ),
    (
        "diskcache",
        "a number of `recipes`_",
        "Which features do the cross-process recipes offer?",
        "memoization with cache stampede prevention",
    ),
    (
        "diskcache",
        "The cloud-based computing",
        "Which programs are commonly used as a cache in memory?",
        "Memcached (and sometimes Redis)",
    ),
    ("pytz", "pytz brings the Olson", "Which database does pytz bring into Python?", "the Olson tz database"),
    (
        "pytz",
        "Projects using Python 3.9",
        "What should projects on Python 3.9 or later use instead of pytz?",
        "the standard library `zoneinfo",
    ),
    (
        "pytz",
        "certain datetimes may occur twice",
        "On which day does the US/Eastern end-of-daylight-saving transition happen?",
        "the last Sunday morning in October",
    ),
    ("pytz", "every instant between 01:00", "Which instants occur twice?", "every instant between 01:00 and 02:00"),
    ("pytz", "the system has chosen one for you", "What is the chance of the guess being out by one hour?", "50%"),
    (
        "pytz",
        "The best and simplest solution",
        "What is the best and simplest solution to timezone problems?",
        "to stick with using UTC",
    ),
    (
        "pytz",
        "The UTC timezone unpickles",
        "How can the UTC implementation be obtained?",
        "pytz.utc, pytz.UTC, or pytz.timezone('UTC')",
    ),
    ("pytz", "in 1915 Warsaw switched", "In which year did Warsaw switch to Central European time?", "1915"),
    ("pytz", "in 1915 Warsaw switched", "By how many minutes were the clocks wound back in Warsaw?", "24 minutes"),
    (
        "pytz",
        "looked up using the ISO 3166",
        "Which code is used to look up the timezones of a country?",
        "the ISO 3166 country code",
    ),
    ("pytz", "is `Coordinated Universal Time`_", "What is UTC a successor to?", "Greenwich Mean Time (GMT)"),
    (
        "pytz",
        "only works for dates between",
        "For which dates does the Python documentation's US/Eastern example work?",
        "between 1987 and 2006",
    ),
    (
        "threadpoolctl",
        "As a compromise between speed",
        "Which function is a compromise between speed and catching newly loaded libraries?",
        "`get_cached_controller()`",
    ),
    (
        "threadpoolctl",
        "can also be used as decorators",
        "Through which method are the decorators accessible?",
        "their `wrap` method",
    ),
    (
        "threadpoolctl",
        "Limiting thread pool size in controlled",
        "What must each Python worker thread also do?",
        "call a method to limit controlled libraries in that thread",
    ),
    (
        "threadpoolctl",
        "the so-called controlling thread",
        "What is the first thread that uses the limiting API called?",
        "the so-called controlling thread",
    ),
    (
        "threadpoolctl",
        "the so-called controlling thread",
        "What happens to limiting calls from other threads?",
        "calls will be silently ignored",
    ),
    ("threadpoolctl", "is a BLAS wrapper", "Which BLAS wrapper can switch its backend at runtime?", "`FlexiBLAS`"),
    (
        "threadpoolctl",
        "A custom controller must be",
        "Which class must a custom controller subclass?",
        "the `LibController` class",
    ),
    (
        "threadpoolctl",
        "A custom controller must be",
        "Which function registers a new controller class?",
        "the `threadpoolctl.register` function",
    ),
    (
        "orjson",
        "orjson contains source code",
        "Under which licenses is orjson's source code?",
        "Mozilla Public License 2.0, Apache 2.0, and MIT",
    ),
    ("orjson", "It raises `JSONEncodeError`", "Which exception is raised on an unsupported type?", "`JSONEncodeError`"),
    ("orjson", "Pretty-print output", "How many spaces does pretty-printing indent by?", "two spaces"),
    ("orjson", "maintains a cache of map keys", "How many entries does the map key cache store?", "2048"),
    ("orjson", "maintains a cache of map keys", "How long can a key be to be cached?", "at most 64 bytes"),
    (
        "orjson",
        "serializes instances of `dataclasses",
        "How much faster does orjson serialize dataclasses than other libraries?",
        "40-50x",
    ),
    (
        "orjson",
        "serializes `datetime.datetime` objects",
        "To which format are datetime objects serialized?",
        "RFC 3339",
    ),
    (
        "orjson",
        "serializes and deserializes 64-bit",
        "Which implementations only support 53-bit integers?",
        "web browsers",
    ),
]


def paragraphs(package: str) -> list[str]:
    text = distribution(package).read_text("METADATA") or ""
    body = re.sub(r"```.*?```", "", text.split("\n\n", 1)[1], flags=re.S)
    out = []
    for p in re.split(r"\n\s*\n", body):
        p = " ".join(p.split())
        skip = p.startswith(("|", ">>>", "$", "..", "-   ", "* ", "- ", "#", "="))
        if len(p) > 200 and not skip and p.count("`") < 8 and "http" not in p[:40]:
            out.append(p)
    return out


def main() -> None:
    data = []
    for package in PACKAGES:
        paras = [{"context": p, "qas": []} for p in paragraphs(package)]
        for k, (pkg, phrase, question, answer) in enumerate(QA):
            if pkg != package:
                continue
            para = next(p for p in paras if phrase in p["context"])
            start = para["context"].find(answer)
            assert start >= 0, (question, answer)
            para["qas"].append(
                {"id": f"docs{k}", "question": question, "answers": [{"text": answer, "answer_start": start}]}
            )
        data.append({"title": package, "paragraphs": paras})
    out = HERE / "offdomain_docs_qa.json"
    out.write_text(json.dumps({"version": "1.1", "data": data}, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out}: {sum(len(p['qas']) for a in data for p in a['paragraphs'])} questions")


if __name__ == "__main__":
    main()
