"""bertscore_rs.compare: `bertscore compare --json`'s document from Python lists; its per-item scores are
score()'s for each model's outputs."""

from __future__ import annotations

import numpy as np

import bertscore_rs


def test_compare_dialogsum(dialogsum) -> None:
    base, custom = dialogsum
    refs = [record["reference"] for record in base]
    ids = [record["id"] for record in base]
    base_texts = [record["completion"] for record in base]
    custom_texts = [record["completion"] for record in custom]
    assert [record["id"] for record in custom] == ids

    for idf in (False, True):
        result = bertscore_rs.compare(base_texts, custom_texts, refs, ids=ids, idf=idf, bootstrap=2000,
                                      permutations=2000, seed=7)
        assert set(result) >= {
            "settings", "n", "base", "custom", "delta_f1", "ci95", "p_value", "wins", "losses", "ties",
            "verdict", "deltas", "permutation_test", "bootstrap", "seed", "margin", "alpha", "warnings", "items",
        }
        assert result["n"] == len(ids) and [item["id"] for item in result["items"]] == ids
        assert result["verdict"] in ("custom", "base", "inconclusive")
        assert result["ci95"][0] <= result["delta_f1"] <= result["ci95"][1]
        assert 0.0 < result["p_value"] <= 1.0 and result["seed"] == 7
        assert ("_idf_" in result["settings"]) == idf
        # Each side equals score() on that model's outputs alone (idf over each item's references once).
        for side, texts in (("base", base_texts), ("custom", custom_texts)):
            P, R, F = bertscore_rs.score(texts, refs, idf=idf)
            got = np.array([[item[side]["precision"], item[side]["recall"], item[side]["f1"]]
                            for item in result["items"]])
            np.testing.assert_allclose(got, np.stack([P, R, F], axis=1), rtol=0, atol=1e-6)
        deltas = [item["custom"]["f1"] - item["base"]["f1"] for item in result["items"]]
        np.testing.assert_allclose([item["delta_f1"] for item in result["items"]], deltas, atol=1e-12)
        assert abs(result["delta_f1"] - np.mean(deltas)) < 1e-12
        assert result["wins"] + result["losses"] + result["ties"] == len(ids)


def test_compare_ids_default_to_positions() -> None:
    result = bertscore_rs.compare(["a cat sat", "dogs run"], ["the cat sat", "dogs run"], ["the cat sat", "dogs run"],
                                  bootstrap=100, permutations=100)
    assert [item["id"] for item in result["items"]] == ["1", "2"]
    assert result["items"][1]["delta_f1"] == 0.0
