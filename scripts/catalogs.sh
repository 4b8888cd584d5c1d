#!/usr/bin/env bash
# Refresh the chat's gettext catalogs after changing texts: extracts every marked text into
# telegram_bot/locales/botfleet.pot and merges it into each language's .po file (new texts come
# in untranslated; tests/telegram_bot/test_i18n.py fails until they are translated).
# A new language: bash scripts/catalogs.sh init <code>, e.g. es or de.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
POT=telegram_bot/locales/botfleet.pot
pybabel extract -F babel.cfg -k t -k ParamError -k Param:3 --sort-by-file --no-wrap \
  --project botfleet --copyright-holder botfleet -o "$POT" .
if [ "${1:-}" = "init" ]; then
  pybabel init -i "$POT" -d telegram_bot/locales -D botfleet -l "$2" --no-wrap
else
  pybabel update -i "$POT" -d telegram_bot/locales -D botfleet --no-wrap --ignore-obsolete
fi
