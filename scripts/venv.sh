# Sourced by run.sh and test.sh: a .venv with the pinned requirements, reinstalled when they change.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
. .venv/bin/activate
if ! cmp -s requirements.txt .venv/.installed-requirements 2>/dev/null; then
  python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  cp requirements.txt .venv/.installed-requirements
fi
