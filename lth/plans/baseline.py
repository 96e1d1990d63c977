"""The dense baseline: the network trained once from theta0."""
from lth.plans.base import Plan


class BaselinePlan(Plan):
    name = "baseline"
    title = "dense baseline"
    trained_by = "lth.experiments:Baseline"
