"""Writes offdomain_scifact_qa.json: 40 questions written by hand over SciFact abstracts, SQuAD v1.1 format.

    python benchmarks/data/make_offdomain_scifact_qa.py   (reads ../shared/data/scifact/corpus.jsonl)

An off-domain check for the answer confidence, which is fitted on Wikipedia: biomedical abstracts,
numbers and units, long names. Answers are spans of the abstracts; the script checks each is there.
"""

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
rows = {
    json.loads(line)["_id"]: json.loads(line)
    for line in open(HERE.parents[2] / "shared" / "data" / "scifact" / "corpus.jsonl", encoding="utf-8")
}
QA = {
    "25104843": [
        ("How long did the hemoperfusion-hemodialysis last?", "5 hours"),
        ("What was the blood paraquat level on admission?", "15.8 micrograms/ml"),
        ("Which tissue had the highest paraquat level?", "skeletal muscle"),
        ("How many days after admission did the patient die?", "5 days"),
    ],
    "37727521": [
        (
            "Which cytosolic protein detects viral double-stranded RNA inside the cell?",
            "Retinoic acid-inducible gene I",
        ),
        ("In which cells are EBERs most abundant?", "latently EBV-infected cells"),
    ],
    "30208015": [
        ("Which oxysterol activates EBI2 most potently?", "7α,25-dihydroxycholesterol"),
        ("How many key residues for 7α,25-OHC binding were identified?", "four"),
    ],
    "41735503": [("How many kinds of headache does the ICHD categorize?", "more than a hundred")],
    "8747771": [("Which organism's genome was analysed throughout the cell cycle?", "Saccharomyces cerevisiae")],
    "8512633": [
        ("How many high-risk prostate cancer patients were in the cohort?", ">230"),
        ("Which of the two lncRNAs is associated with prostate cancer?", "PCGEM1"),
    ],
    "30805636": [
        ("How many nondiabetic patients were in the bezafibrate study?", "303"),
        ("What daily dose of bezafibrate retard did patients receive?", "400 mg"),
        ("How long was the follow-up period of the bezafibrate study?", "6.2-year"),
        ("What share of the placebo group developed new-onset diabetes?", "54.4%"),
    ],
    "26374799": [
        ("Which signal transducer activates the TGFbeta/activin/nodal branch?", "SMAD2/3"),
        ("What does SMAD2/3 signaling maintain in ex vivo mouse blastocyst cultures?", "the inner cell mass"),
    ],
    "145335387": [
        ("Which four Chinese cities does the suburbanization study examine?", "Beijing, Shanghai, Shenyang, and Dalian")
    ],
    "52824661": [("Which lncRNA was highly enriched in TGF-β-mediated exosomes?", "lnc-MMP2-2")],
    "8570690": [
        ("How long was the topiramate smoking cessation trial?", "10-week"),
        ("Up to what daily dose was topiramate titrated?", "200 mg/day"),
        ("How many subjects were randomized in the topiramate trial?", "Fifty-seven"),
        ("Which side effect was more frequent on topiramate than on placebo?", "Paresthesia"),
    ],
    "4361990": [
        ("Where was mature βAPP targeted after reinternalization from the cell surface?", "endosomes/lysosomes")
    ],
    "24828165": [("How quickly do mature mTEC turn over?", "2 to 3 weeks")],
    "15322518": [
        ("Which SWI/SNF subunit is deficient in malignant rhabdoid tumors?", "SMARCB1"),
        ("Which dual inhibitor suppresses the AKT and ERK1/2 pathways in MRT cells?", "ponatinib"),
    ],
    "6290112": [
        ("In how many subjects was the AMY1 finding replicated?", "6,200"),
        ("What odds ratio of obesity per estimated copy of AMY1 was found?", "1.19"),
    ],
    "4312169": [
        ("How many paediatric GBM samples had their exomes sequenced?", "48"),
        ("In what share of all cases were somatic TP53 mutations found?", "54%"),
    ],
    "34604584": [("On which cells were the SR protein analyses done?", "mouse embryo fibroblasts")],
    "1889358": [
        ("How identical is KIF3B to KIF3A?", "47% identical"),
        ("What is the kinesin superfamily-associated protein 3 called?", "KAP3"),
    ],
    "43165768": [
        ("Which extract of Sonneratia alba was the most effective?", "Methanol extract"),
        ("Which strain was the most sensitive to the Sonneratia alba extract?", "E. coli"),
    ],
    "53302393": [
        ("How many manually curated protein families did Pfam contain as of release 26.0?", "more than 13,000"),
        ("How many new families were generated over the last 2 years?", "1840"),
    ],
    "7039855": [
        ("By how much does OPC number increase within lesions in the absence of neuronal activity?", "∼6-fold")
    ],
}
paras = []
n = 0
for doc, qas in QA.items():
    text = rows[doc]["text"]
    items = []
    for q, a in qas:
        i = text.find(a)
        assert i >= 0, (doc, a)
        n += 1
        items.append({"id": f"sf{n}", "question": q, "answers": [{"text": a, "answer_start": i}]})
    paras.append({"context": text, "qas": items, "source_id": doc})
# Distractors: other abstracts, so retrieval has to find the right one.
rng = random.Random(5)
others = [r for k, r in rows.items() if k not in QA and 120 < len(r["text"].split()) < 320]
for r in rng.sample(others, 60):
    paras.append({"context": r["text"], "qas": [], "source_id": r["_id"]})
out = {
    "version": "1.1",
    "note": "Off-domain check for the answer confidence: 40 questions written by hand over 21 SciFact "
    "abstracts (BEIR SciFact corpus, ODC-By 1.0), with 60 other abstracts as distractors. Not "
    "used for fitting.",
    "data": [{"title": "SciFact abstracts", "paragraphs": paras}],
}
json.dump(out, open(HERE / "offdomain_scifact_qa.json", "w", encoding="utf-8"), indent=1, ensure_ascii=False)
print(n, len(paras))
