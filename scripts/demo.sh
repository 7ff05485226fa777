#!/usr/bin/env bash
echo "make demo: not yet (see issue 6)."
