#!/bin/sh
# `make demo`: a short tour of the condition language against a sample context.
# (When the evaluator lands, this dry-runs an example program against a sample basket.)
set -e
LOYALTY=${1:-loyalty}
CONTEXT=programs/contexts/morning-coffee.json
run() {
  shown=""
  for arg in "$@"; do
    case "$arg" in *" "*|*'"'*) shown="$shown '$arg'" ;; *) shown="$shown $arg" ;; esac
  done
  printf '\n$ loyalty check%s\n' "$shown"
  "$LOYALTY" check "$@"
}
echo "Sample context: $CONTEXT (a Saturday-morning app purchase by a gold customer)"
run --context "$CONTEXT" 'basket.total >= 1000 and customer.tier in ["gold", "platinum"]'
run --context "$CONTEXT" 'count(item.category == "coffee" for item in basket.items)'
run --context "$CONTEXT" 'sum(item.price * item.qty for item in basket.items if item.category != "beans")'
run --context "$CONTEXT" --timezone Europe/Moscow --explain \
  '(event.time.weekday in ["sat", "sun"] or event.time.hour < 10) and "vip" in customer.tags'
run --context "$CONTEXT" --json 'round(basket.total / 3, 2)'
echo
echo '$ loyalty check '"'"'basket.totl >= 50'"'"'   # a mistake, caught before it runs'
"$LOYALTY" check 'basket.totl >= 50' || true
