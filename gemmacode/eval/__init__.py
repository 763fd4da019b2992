"""The evaluation harness: datasets of cases with planted bugs, scoring, reports."""
