from microfleet.training.metrics import answer_metric, exact_match, numeric_match, rouge_l


def test_metrics() -> None:
    assert (
        numeric_match("Finland charges 25.5%.", "The standard VAT rate in Finland is 25.5%.") == 1
    )
    assert numeric_match("Finland charges 25%.", "The standard VAT rate in Finland is 25.5%.") == 0
    assert exact_match(" The rate is 20%. ", "the rate is 20%") == 1
    assert rouge_l("gold rose on central bank buying", "gold rose on central bank buying") == 1
    assert 0 < rouge_l("gold rose", "gold rose on buying") < 1
    assert answer_metric("numeric", ["20", "x"], ["20%", "21%"]) == 0.5
