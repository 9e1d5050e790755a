"""Stages: glue between the Bus and an engine. They return changes; the runner moves them."""
