#!/bin/sh
# `make demo`: validate the example programs, dry-run the coffee shop against a sample basket,
# run its expectations, replay a month into a database and close its books, and try the
# condition language.
set -e
LOYALTY=${1:-loyalty}
say() { printf '\n\033[1m$ loyalty %s\033[0m\n' "$*"; }

say validate programs/
"$LOYALTY" validate programs/

say dry-run programs/coffee-club.yaml programs/events/coffee-club/double-tuesday-gold.json \
    --customer programs/states/coffee-club/gold-member.json
"$LOYALTY" dry-run programs/coffee-club.yaml programs/events/coffee-club/double-tuesday-gold.json \
    --customer programs/states/coffee-club/gold-member.json

say test programs/coffee-club.yaml
"$LOYALTY" test programs/coffee-club.yaml

DB=$(mktemp -d)/loyalty.db
trap 'rm -rf "$(dirname "$DB")"' EXIT
say run programs/coffee-club.yaml programs/events/coffee-club-december.jsonl --db loyalty.db \
    --now 2026-12-31T23:59:59+03:00
"$LOYALTY" run programs/coffee-club.yaml programs/events/coffee-club-december.jsonl --db "$DB" \
    --now 2026-12-31T23:59:59+03:00

say ledger export programs/coffee-club.yaml --db loyalty.db
"$LOYALTY" ledger export programs/coffee-club.yaml --db "$DB"

say check --context programs/contexts/morning-coffee.json "'basket.total >= 1000 and customer.tier in [\"gold\", \"platinum\"]'"
"$LOYALTY" check --context programs/contexts/morning-coffee.json \
    'basket.total >= 1000 and customer.tier in ["gold", "platinum"]'

say check "'basket.totl >= 50'   # a mistake, caught before it runs"
"$LOYALTY" check 'basket.totl >= 50' || true
