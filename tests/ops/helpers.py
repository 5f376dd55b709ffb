"""Reading ``/metrics`` the way Prometheus does."""

from prometheus_client.parser import text_string_to_metric_families


def parse_metrics(text):
    """``{(sample name, frozenset of label pairs): value}`` from an exposition text."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)
