#!/usr/bin/env bash
# filter_keys.sh on an index built WITH (key_vectors = on): the posting lists then hold each
# element's vector too (bigger items, more chunks), under the same concurrent writers, VACUUM,
# replica and SIGKILL checks.
FK_KEY_VECTORS=on exec bash "$(dirname "$0")/filter_keys.sh"
