"""``manage.py check`` runs the start-up validation of ``ops.startup``."""

from django.conf import settings
from django.core import checks

from .startup import configuration_problems


@checks.register("ops")
def configuration_check(app_configs, **kwargs):
    return [
        checks.Error(problem, id="ops.E001")
        for problem in configuration_problems(settings, probe_network=False)
    ]


@checks.register("ops", deploy=True)
def dependencies_check(app_configs, **kwargs):
    network_only = set(configuration_problems(settings)) - set(
        configuration_problems(settings, probe_network=False)
    )
    return [checks.Error(problem, id="ops.E002") for problem in sorted(network_only)]
