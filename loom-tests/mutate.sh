#!/usr/bin/env bash
# Mutation run of the loom suite: how much of warden-breaker the models pin down.
#
#   loom-tests/mutate.sh              # every mutant in loom-tests/mutants.txt
#   loom-tests/mutate.sh --ordering   # only the weakened orderings (what CI runs)
#   loom-tests/mutate.sh --logic      # only the logic mutants
#   loom-tests/mutate.sh --only ID[,ID...]
#   loom-tests/mutate.sh --check      # only check the list (no build, no run)
#
# Each mutant (see the format at the top of mutants.txt) replaces one exact text in one
# core file; the suite then runs against it exactly as loom-tests/run.sh runs it
# (release, --cfg loom -C debug-assertions, LOOM_MAX_PREEMPTIONS, the same target dir,
# so only the core and the test binaries are rebuilt), first the models named in the
# mutant's `first`, then the rest, stopping at the first failing model. The file is
# restored after every mutant, and on any exit (failure, Ctrl-C).
#
# Exits non-zero if the list is stale (a `find` text not found exactly once, an
# Ordering other than Relaxed in the core not covered by an ordering mutant), if a
# mutant does not build, if a mutant survives without an `accept` reason, or if an
# accepted mutant is killed (drop its `accept`). Run loom-tests/run.sh first: a
# mutant counts as killed by any failing model, so the suite must pass on the real
# core.
#
# Environment: LOOM_MAX_PREEMPTIONS (default 3), LOOM_TARGET_DIR (default
# target/loom, shared with run.sh), MUTATE_TIMEOUT (seconds per test binary run,
# default 600; a mutant that exceeds it counts as killed, marked TIMEOUT).
set -euo pipefail
cd "$(dirname "$0")/.."

list=${MUTANTS_LIST:-loom-tests/mutants.txt}
core_dir=crates/warden-breaker/src
export RUSTFLAGS="--cfg loom -C debug-assertions"
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-$PWD/target/loom}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
per_run_timeout="${MUTATE_TIMEOUT:-600}"

# The suite's test binaries, quickest first (a survivor runs them all), then the
# core's own models.
suite=(clock interval drop trip window time_window slow_calls max_wait counts half_open
  stale backoff manual callbacks core)

want_kind=all
only=
check_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --ordering) want_kind=ordering ;;
    --logic) want_kind=logic ;;
    --all) want_kind=all ;;
    --only) only=,$2, && shift ;;
    --check) check_only=1 ;;
    *) echo "unknown argument: $1 (see the header of $0)" >&2 && exit 2 ;;
  esac
  shift
done

# ---------------------------------------------------------------- the list
ids=() kinds=() files=() finds=() repls=() whats=() firsts=() accepts=() scopes=()
unmodelled=()
errors=0
error() { echo "ERROR $*" >&2; errors=$((errors + 1)); }

unescape() { local v=$1; printf '%s' "${v//\\n/$'\n'}"; }

n=-1
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
  lineno=$((lineno + 1))
  case $line in
    '#'* | '') continue ;;
    '['*']')
      n=$((n + 1))
      ids[n]=${line:1:${#line}-2}
      kinds[n]= files[n]= finds[n]= repls[n]=unset whats[n]= firsts[n]= accepts[n]= scopes[n]=
      continue
      ;;
  esac
  if [[ $line != *=* ]]; then
    error "$list:$lineno: not 'key = value': $line"
    continue
  fi
  key=${line%%=*}
  key=${key// /}
  val=${line#*=}
  val=${val# }
  if [ "$key" = unmodelled ]; then
    unmodelled+=("${val%%:*}")
    continue
  fi
  if [ $n -lt 0 ]; then
    error "$list:$lineno: '$key' outside a [mutant] block"
    continue
  fi
  case $key in
    kind) kinds[n]=$val ;;
    file) files[n]=$val ;;
    find) finds[n]=$(unescape "$val") ;;
    replace) repls[n]=$(unescape "$val") ;;
    what) whats[n]=$val ;;
    first) firsts[n]=$val ;;
    accept) accepts[n]=$val ;;
    scope) scopes[n]=$val ;;
    *) error "$list:$lineno: unknown key '$key'" ;;
  esac
done <"$list"

# Prints "<count> <first line> <last line>" of `find` ($FIND) in a file.
locate() {
  FIND=$2 perl -0777 -ne '
    my $f = $ENV{FIND}; my @m;
    while (/\Q$f\E/g) { push @m, [$-[0], $+[0]]; }
    my ($a, $b) = @m == 1 ? @{$m[0]} : (0, 0);
    my $l1 = 1 + (() = substr($_, 0, $a) =~ /\n/g);
    my $l2 = 1 + (() = substr($_, 0, $b) =~ /\n/g);
    print scalar(@m), " $l1 $l2\n";' "$1"
}

declare -A seen_id covered
for i in "${!ids[@]}"; do
  id=${ids[i]}
  [ -n "${seen_id[$id]:-}" ] && error "mutant $id: listed twice"
  seen_id[$id]=1
  case ${kinds[i]} in ordering | logic) ;; *) error "mutant $id: kind must be ordering or logic" ;; esac
  case ${scopes[i]} in
    '') ;;
    first) [ -n "${firsts[i]}" ] && [ -n "${accepts[i]}" ] ||
      error "mutant $id: scope = first needs its first models and an accept reason" ;;
    *) error "mutant $id: scope must be first (or absent)" ;;
  esac
  [ -z "${whats[i]}" ] && error "mutant $id: no 'what'"
  [ -z "${finds[i]}" ] && error "mutant $id: no 'find'" && continue
  [ "${repls[i]}" = unset ] && error "mutant $id: no 'replace'" && continue
  [ "${finds[i]}" = "${repls[i]}" ] && error "mutant $id: 'replace' equals 'find'"
  if [ ! -f "${files[i]}" ]; then
    error "mutant $id: no file '${files[i]}'"
    continue
  fi
  read -r count l1 l2 < <(locate "${files[i]}" "${finds[i]}")
  if [ "$count" != 1 ]; then
    error "mutant $id: its text occurs $count times in ${files[i]} (must be exactly once: update the list)"
    continue
  fi
  if [ "${kinds[i]}" = ordering ]; then
    for ((l = l1; l <= l2; l++)); do covered["${files[i]}:$l"]=1; done
  fi
done

# Every Ordering other than Relaxed in the core (code, not comments) needs a mutant.
for f in "$core_dir"/*.rs "$core_dir"/*/*.rs; do
  [ -f "$f" ] || continue
  for u in "${unmodelled[@]}"; do [ "$f" = "$u" ] && continue 2; done
  while IFS=: read -r l text; do
    [[ $text =~ ^[[:space:]]*// ]] && continue
    if [ -z "${covered["$f:$l"]:-}" ]; then
      error "$f:$l: an Ordering other than Relaxed without an ordering mutant in $list:$text"
    fi
  done < <(grep -nE 'Ordering::(Acquire|Release|AcqRel|SeqCst)' "$f" || true)
done

if [ "$errors" -gt 0 ]; then
  echo "$list: $errors problem(s); no mutant was run" >&2
  exit 2
fi
echo "::: $list: ${#ids[@]} mutants, every text found once, every non-Relaxed Ordering covered"
[ "$check_only" = 1 ] && exit 0

# ---------------------------------------------------------------- apply and restore
backup=$(mktemp -d)
log=$(mktemp)
applied=
restore() {
  if [ -n "$applied" ]; then
    # Not `cp -p`: the restored file must look newer than the mutant's build.
    cat "$backup/file" >"$applied"
    applied=
  fi
}
cleanup() {
  restore
  rm -rf "$backup" "$log"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

apply() { # index
  local f=${files[$1]}
  cp "$f" "$backup/file"
  applied=$f
  FIND=${finds[$1]} REPL=${repls[$1]} perl -0777 -pe '
    BEGIN { $f = $ENV{FIND}; $r = $ENV{REPL} }
    s/\Q$f\E/$r/ or die "mutant text not found\n";' "$backup/file" >"$backup/mutant"
  cat "$backup/mutant" >"$f"
}

# ---------------------------------------------------------------- build and run
declare -A exe
build() { # test binaries (suite names); fills exe[]
  local args=() b
  for b in "$@"; do
    [ -n "${exe[$b]:-}" ] && continue
    if [ "$b" = core ]; then args+=(-p warden-breaker --lib); else args+=(-p warden-loom-tests --test "$b"); fi
  done
  [ ${#args[@]} -eq 0 ] && return 0
  if ! cargo test --release --locked "${args[@]}" --no-run >"$log" 2>&1; then
    cat "$log"
    return 1
  fi
  local line path
  while IFS= read -r line; do
    path=${line##*(}
    path=${path%)}
    case $line in
      *"Executable unittests src/lib.rs"*) exe[core]=$path ;;
      *"Executable tests/"*)
        b=${line#*Executable tests/}
        exe[${b%%.rs*}]=$path
        ;;
    esac
  done <"$log"
}

killer= why=
run() { # suite binary, test name or "" for all (the core: its loom models)
  local b=$1 t=$2 args=() status=0
  if [ -n "$t" ]; then
    args=(--exact "$t")
  elif [ "$b" = core ]; then
    args=(loom_models)
  fi
  timeout -k 10 "$per_run_timeout" "${exe[$b]}" "${args[@]}" >"$log" 2>&1 || status=$?
  if [ "$status" = 0 ]; then
    # A `first` entry naming no model would pass silently: make it a list problem.
    if [ -n "$t" ] && grep -q '^running 0 tests' "$log"; then
      killer="$b::${t:-*}"
      return 2
    fi
    return 0
  fi
  if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    killer="$b::${t:-*}" why="TIMEOUT after ${per_run_timeout}s"
  else
    local failed
    failed=$(grep -m1 -E '^test .* \.\.\. FAILED$' "$log" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' || true)
    killer="$b::${failed:-${t:-?}}"
    why=$(grep -m1 -A1 'panicked at' "$log" | tail -n1 | cut -c1-160 || true)
  fi
  return 1
}

declare -a result
total_start=$SECONDS
killed=0 survived=0 accepted=0 problems=0 ran=0
for i in "${!ids[@]}"; do
  id=${ids[i]}
  [ "$want_kind" != all ] && [ "${kinds[i]}" != "$want_kind" ] && continue
  [ -n "$only" ] && [[ $only != *",$id,"* ]] && continue
  ran=$((ran + 1))
  start=$SECONDS
  killer= why=
  apply "$i"
  exe=()
  outcome=survived
  for m in ${firsts[i]}; do
    b=${m%%::*}
    t=${m#*::}
    if ! build "$b"; then
      outcome=nobuild
      break
    fi
    status=0
    run "$b" "$t" || status=$?
    if [ "$status" = 1 ]; then
      outcome=killed
      break
    elif [ "$status" = 2 ]; then
      outcome=nomodel
      break
    fi
  done
  if [ "$outcome" = survived ] && [ "${scopes[i]}" != first ]; then
    if ! build "${suite[@]}"; then
      outcome=nobuild
    else
      for b in "${suite[@]}"; do
        status=0
        run "$b" "" || status=$?
        if [ "$status" != 0 ]; then
          outcome=killed
          break
        fi
      done
    fi
  fi
  restore
  secs=$((SECONDS - start))
  case $outcome in
    killed)
      if [ -n "${accepts[i]}" ]; then
        problems=$((problems + 1))
        line="ACCEPTED BUT KILLED  $id (${secs}s) by $killer: drop its accept line"
      else
        killed=$((killed + 1))
        line="killed    $id (${secs}s) by $killer: $why"
      fi
      ;;
    survived)
      if [ -n "${accepts[i]}" ]; then
        accepted=$((accepted + 1))
        line="accepted  $id (${secs}s): ${accepts[i]}"
      else
        survived=$((survived + 1))
        line="SURVIVED  $id (${secs}s): ${whats[i]}"
      fi
      ;;
    nomodel)
      problems=$((problems + 1))
      line="NO MODEL  $id (${secs}s): its first line names $killer, which runs no test"
      ;;
    nobuild)
      problems=$((problems + 1))
      line="NO BUILD  $id (${secs}s): the mutant does not compile; fix its replace text"
      ;;
  esac
  echo "$line"
  result+=("$line")
done

echo
echo "mutation summary ($want_kind, LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS, $((SECONDS - total_start)) s):"
printf '  %s\n' "${result[@]}"
echo "  $ran mutants: $killed killed, $accepted survived as accepted, $survived survived unexplained, $problems list problem(s)"
[ "$ran" -gt 0 ] || { echo "no mutant selected" >&2; exit 2; }
[ "$survived" = 0 ] && [ "$problems" = 0 ]
