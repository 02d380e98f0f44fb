//! The packed state word: every field survives a round trip, fields never overlap,
//! and out-of-range inputs are truncated to their own field (a 32-bit generation
//! never spills into the flags, a large payload never into the generation).
#![no_main]

use arbitrary::Arbitrary;
use warden_breaker::__private::{Fields, closed, decode, half_open, manual, open, with_flags};

const GEN_MASK: u32 = (1 << 20) - 1;
const PAYLOAD_MASK: u64 = (1 << 40) - 1;
const PROBE_MASK: u32 = (1 << 20) - 1;
const DEADLINE_MASK: u64 = (1 << 38) - 1;
/// A closed word's payload bit that marks an interval's end.
const EXPIRES: u64 = 1 << 39;

#[derive(Arbitrary, Debug)]
struct Input {
    generation: u32,
    payload: u64,
    held: u32,
    successes: u32,
    mode: u8,
    pending: bool,
    open_requested: bool,
    raw: u64,
}

/// The word `f` describes, built only through the encoders.
fn encode(f: &Fields) -> u64 {
    let word = match f.tag {
        0 => closed(f.generation, f.payload),
        1 => half_open(f.generation, f.held, f.successes),
        2 => open(f.generation, f.payload),
        _ => manual(f.generation, f.mode, f.deadline.or(f.lap).unwrap_or(0)),
    };
    with_flags(word, f.pending, f.open_requested)
}

fn check(word: u64, tag: u8, input: &Input, pending: bool, open_requested: bool) {
    let f = decode(word);
    assert_eq!(f.tag, tag, "{f:?}");
    assert_eq!(f.generation, input.generation & GEN_MASK, "{f:?}");
    assert_eq!(
        (f.pending, f.open_requested),
        (pending, open_requested),
        "{f:?}"
    );
    if tag == 1 {
        assert_eq!(f.held, input.held & PROBE_MASK, "{f:?}");
        assert_eq!(f.successes, input.successes & PROBE_MASK, "{f:?}");
        // Its payload is the probe counts: no lap.
        assert_eq!(f.lap, None, "{f:?}");
    } else if tag == 3 {
        assert_eq!(f.mode, input.mode % 4, "{f:?}");
        // Mode 1 keeps a deadline; every other mode keeps the lap in its place.
        let deadline = (f.mode == 1).then_some(input.payload & DEADLINE_MASK);
        let lap = (f.mode != 1).then_some(input.payload & DEADLINE_MASK);
        assert_eq!((f.deadline, f.lap), (deadline, lap), "{f:?}");
    } else {
        assert_eq!(f.payload, input.payload & PAYLOAD_MASK, "{f:?}");
        // A plain-closed word holds its lap; one with an interval (bit 39) does not.
        let plain = tag == 0 && input.payload & EXPIRES == 0 && !open_requested;
        let lap = plain.then_some(input.payload & DEADLINE_MASK);
        assert_eq!(f.lap, lap, "{f:?}");
    }
    // Fields -> word -> fields is the identity, so distinct fields give distinct
    // words: no two fields share a bit.
    assert_eq!(encode(&f), word, "{f:?}");
}

libfuzzer_sys::fuzz_target!(|input: Input| {
    let words = [
        (closed(input.generation, input.payload), 0),
        (half_open(input.generation, input.held, input.successes), 1),
        (open(input.generation, input.payload), 2),
        (manual(input.generation, input.mode, input.payload), 3),
    ];
    for (word, tag) in words {
        // Freshly encoded words carry no flags, whatever the generation's high bits.
        check(word, tag, &input, false, false);
        let flagged = with_flags(word, input.pending, input.open_requested);
        check(flagged, tag, &input, input.pending, input.open_requested);
        // Clearing PENDING leaves everything else as it was.
        let cleared = with_flags(flagged, false, false);
        check(cleared, tag, &input, false, input.open_requested);
    }
    // Any word decodes, and word -> fields -> word is the identity.
    let f = decode(input.raw);
    assert_eq!(encode(&f), input.raw, "{f:?}");
});
