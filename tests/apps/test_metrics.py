"""Fine-tuning metrics against hand-computed cases."""

import pytest

from paddle_electra.apps.train.metrics import (
    accuracy,
    answer_tokens,
    entity_scores,
    exact_match,
    get_entities,
    normalize_answer,
    qa_scores,
    span_f1,
)


def test_accuracy():
    assert accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5
    assert accuracy(["a"], ["a"]) == 1.0
    with pytest.raises(ValueError, match="3 predictions for 2 references"):
        accuracy([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="empty"):
        accuracy([], [])


def test_get_entities_bio_rules():
    assert get_entities(["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-LOC", "O", "B-ORG"]) == [
        ("PER", 0, 2), ("LOC", 3, 6), ("ORG", 7, 8)]
    # I- without a matching B- starts an entity; a type change ends one; B- after B- splits
    assert get_entities(["I-PER", "I-PER", "I-LOC", "B-LOC", "I-LOC", "B-PER", "B-PER"]) == [
        ("PER", 0, 2), ("LOC", 2, 3), ("LOC", 3, 5), ("PER", 5, 6), ("PER", 6, 7)]
    assert get_entities(["O", "O"]) == []
    assert get_entities([]) == []
    assert get_entities(["B_MISC", "I_MISC"]) == [("MISC", 0, 2)]  # underscore separator
    with pytest.raises(ValueError, match=r"gold sentence 0: tag 'PER' is not BIO"):
        entity_scores([["PER"]], [["O"]])


def test_entity_scores_hand_computed():
    gold = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-LOC", "O", "B-ORG"], ["O", "B-PER"]]
    pred = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "O", "I-ORG"], ["B-LOC", "B-PER"]]
    # sentence 0: PER and ORG right, LOC ends early; sentence 1: PER right, LOC spurious
    s = entity_scores(gold, pred)
    assert (s["correct"], s["predicted"], s["gold"]) == (3, 5, 4)
    assert s["precision"] == pytest.approx(0.6)
    assert s["recall"] == pytest.approx(0.75)
    assert s["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert s["per_type"]["PER"]["f1"] == 1.0
    assert s["per_type"]["LOC"] == pytest.approx(
        {"precision": 0.0, "recall": 0.0, "f1": 0.0, "correct": 0, "predicted": 2, "gold": 1})
    assert s["per_type"]["ORG"]["f1"] == 1.0
    assert entity_scores([["O"]], [["O"]])["f1"] == 0.0  # nothing to find, nothing found
    with pytest.raises(ValueError, match="sentence 0 has 2 gold tags but 1 predicted"):
        entity_scores([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="1 predicted sentences for 2 gold"):
        entity_scores([["O"], ["O"]], [["O"]])


def test_answer_normalisation():
    assert normalize_answer(" 北京。") == "北京"
    assert normalize_answer("ＡＢＣ，１２") == "abc12"  # full width -> ASCII, lower case
    assert normalize_answer("《红楼梦》") == "红楼梦"
    assert answer_tokens("Python 3.8 版本") == ["python", "38", "版", "本"]
    assert answer_tokens("“天安门”") == ["天", "安", "门"]


def test_exact_match_and_f1_hand_computed():
    assert exact_match("北京。", ["北京"]) == 1.0
    assert exact_match("北京市", "北京") == 0.0
    # 北京市 vs 北京: 2 common characters, P = 2/3, R = 1 -> F1 = 0.8
    assert span_f1("北京市", ["北京"]) == pytest.approx(0.8)
    # several gold answers: the best one counts (天安门: P = 3/5, R = 1 -> 0.75; 广场: 4/7)
    assert span_f1("天安门广场", ["广场", "天安门"]) == pytest.approx(0.75)
    assert span_f1("上海", ["北京"]) == 0.0
    assert span_f1("", ["北京"]) == 0.0
    # repeated characters are counted as a bag: 哈哈哈 vs 哈哈 -> P = 2/3, R = 1
    assert span_f1("哈哈哈", "哈哈") == pytest.approx(0.8)
    # English words are whole units: "new york city" vs "new york" -> P = 2/3, R = 1
    assert span_f1("New York City", ["new york"]) == pytest.approx(0.8)


def test_qa_scores():
    refs = {"q1": ["北京"], "q2": ["上海"], "q3": ["广州", "广州市"]}
    preds = {"q1": "北京", "q2": "上海市"}  # q3 unanswered: scores 0
    s = qa_scores(preds, refs)
    assert s["count"] == 3
    assert s["exact_match"] == pytest.approx(1 / 3)
    assert s["f1"] == pytest.approx((1 + 0.8 + 0) / 3)
    assert qa_scores({"q3": "广州市"}, {"q3": ["广州", "广州市"]})["exact_match"] == 1.0
    with pytest.raises(ValueError, match="unknown question ids"):
        qa_scores({"zz": "x"}, refs)
