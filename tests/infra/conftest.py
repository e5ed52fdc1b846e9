"""Infrastructure test setup: keep the jsii runtime quiet before any test module imports aws_cdk."""

from __future__ import annotations

import os

# Before aws_cdk starts its Node.js runtime: keep jsii's Node end-of-life banner out of the test output
# (the Makefile exports the same for the CLI).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
