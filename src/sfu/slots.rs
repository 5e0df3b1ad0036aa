//! Audio slots: which participants a subscriber hears on its few audio
//! m-lines (like Jitsi Videobridge's SSRC rewriting).
//!
//! Every subscriber receives audio on at most K m-lines ("slots",
//! `media.audio_slots`). While there are at most K others with a
//! microphone, each of them has a slot of their own for as long as they
//! stay. In larger rooms the slots go to the participants in the order of
//! [`super::speaker::SpeakerDetector::ranking`] — those in a talkspurt
//! first — with two rules that keep the audio smooth:
//! - an occupant in a talkspurt keeps the slot (a slot never switches in
//!   the middle of someone's sentence; a new voice waits for a free slot);
//! - a silent occupant keeps the slot until someone who speaks needs it
//!   (no switching between silent people).
//!
//! Lip sync: a browser synchronises an audio track with the video tracks
//! whose msid names the same stream. A slot the engine creates while the
//! room is small (each other participant with a microphone gets a slot of
//! their own) is *named* after one participant — its msid stream is the
//! one of their camera m-line — and goes to them whenever they are to be
//! heard (affinity), unless that would cut someone's talkspurt short: then
//! the move waits until both are silent. Slots created for a larger room
//! are neutral (`kabine-audio-N`). When the room grows beyond K + 1, a
//! named slot may carry someone else while its namesake is not heard;
//! the browser then puts that voice in the namesake's sync group: Chromium
//! shifts its playout (or the namesake's video's) to line the two up by
//! their RTCP sender reports, which relate unrelated timelines — the voice
//! may be delayed, within the jitter buffers' limits (not measured), and the
//! voice's own video is not lip-synced. The msid renames nothing in the
//! client, which maps slots by the `audio_slots` message alone. A slot
//! stays named after a participant who left (str0m's SDP API cannot
//! change an existing m-line's msid, and slots are never stopped);
//! whoever takes it is heard, but not lip-synced.
//!
//! Pure: the engine rewrites sequence numbers and timestamps on a switch
//! ([`super::rewrite`]) so each slot stays one continuous RTP stream.

use super::speaker::Ranked;

/// Gives out `slots` (their occupants, in m-line order) to `ranked`, the
/// candidates for this subscriber (the subscriber itself, muted
/// participants and those without a microphone already left out).
/// `named` says, per slot, whom its msid stream is named after (`None`: a
/// neutral slot); it must be as long as `slots`. Returns whether any slot
/// changed.
pub fn assign<K: Copy + Eq>(slots: &mut [Option<K>], named: &[Option<K>], ranked: &[Ranked<K>]) -> bool {
    debug_assert_eq!(slots.len(), named.len(), "one name per slot");
    let before: Vec<Option<K>> = slots.to_vec();
    let rank = |k: K| ranked.iter().position(|r| r.who == k);
    let speaking = |k: K| ranked.iter().any(|r| r.who == k && r.speaking);
    // Occupants who are no candidate any more (left, muted) go at once.
    for slot in slots.iter_mut() {
        if slot.is_some_and(|k| rank(k).is_none()) {
            *slot = None;
        }
    }
    let seated = |slots: &[Option<K>], k: K| slots.contains(&Some(k));
    // Who should be seated, best first, at most one per slot.
    let mut wanted: Vec<K> = Vec::with_capacity(slots.len());
    let speaking_occupants = ranked.iter().filter(|r| r.speaking && seated(slots, r.who));
    let speaking_others = ranked.iter().filter(|r| r.speaking && !seated(slots, r.who));
    let silent_occupants = ranked.iter().filter(|r| !r.speaking && seated(slots, r.who));
    let silent_others = ranked.iter().filter(|r| !r.speaking && !seated(slots, r.who));
    for r in speaking_occupants.chain(speaking_others).chain(silent_occupants).chain(silent_others) {
        if wanted.len() == slots.len() {
            break;
        }
        wanted.push(r.who);
    }
    for slot in slots.iter_mut() {
        if slot.is_some_and(|k| !wanted.contains(&k)) {
            *slot = None;
        }
    }
    // Affinity: a participant to be seated goes to the slot named after
    // them, unless that interrupts a talkspurt — theirs in another slot, or
    // the slot's occupant's. A silent occupant moves over: to the named
    // participant's former slot, or, seated below, to a free one.
    for (i, name) in named.iter().enumerate() {
        let Some(n) = *name else { continue };
        if slots[i] == Some(n) || !wanted.contains(&n) {
            continue;
        }
        let from = slots.iter().position(|s| *s == Some(n));
        if slots[i].is_some_and(speaking) || (from.is_some() && speaking(n)) {
            continue;
        }
        let occupant = slots[i].replace(n);
        if let Some(j) = from {
            slots[j] = occupant;
        }
    }
    // The rest take free slots: their own first, then a neutral one, then
    // one whose namesake is no candidate now (muted or gone), then any.
    let claimed = |i: usize| named[i].is_some_and(|n| rank(n).is_some());
    for k in wanted {
        if seated(slots, k) {
            continue;
        }
        let free: Vec<usize> = (0..slots.len()).filter(|i| slots[*i].is_none()).collect();
        let pick = free
            .iter()
            .find(|i| named[**i] == Some(k))
            .or_else(|| free.iter().find(|i| named[**i].is_none()))
            .or_else(|| free.iter().find(|i| !claimed(**i)))
            .or(free.first());
        if let Some(&i) = pick {
            slots[i] = Some(k);
        }
    }
    slots != before.as_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(who: u8, speaking: bool) -> Ranked<u8> {
        Ranked { who, speaking }
    }

    /// Slots whose msids name nobody (created for a large room).
    fn neutral(slots: &mut [Option<u8>], ranked: &[Ranked<u8>]) -> bool {
        let named = vec![None; slots.len()];
        assign(slots, &named, ranked)
    }

    #[test]
    fn a_small_room_gives_everyone_a_slot_of_their_own_for_good() {
        let mut slots = [None; 3];
        assert!(neutral(&mut slots, &[r(1, false), r(2, false)]));
        assert_eq!(slots, [Some(1), Some(2), None]);
        // Talking changes nothing: everyone is already heard.
        assert!(!neutral(&mut slots, &[r(2, true), r(1, false)]));
        assert!(!neutral(&mut slots, &[r(1, true), r(2, true)]));
        // A third joins the free slot; the others stay where they are.
        assert!(neutral(&mut slots, &[r(3, true), r(1, false), r(2, false)]));
        assert_eq!(slots, [Some(1), Some(2), Some(3)]);
        // Someone leaves: the slot is freed, nobody moves.
        assert!(neutral(&mut slots, &[r(1, false), r(3, false)]));
        assert_eq!(slots, [Some(1), None, Some(3)]);
    }

    #[test]
    fn a_new_voice_takes_the_slot_of_a_silent_occupant() {
        let mut slots = [Some(1), Some(2), Some(3)];
        // 7 speaks; 2 spoke least recently of the occupants.
        let ranked = [r(7, true), r(1, false), r(3, false), r(2, false), r(4, false)];
        assert!(neutral(&mut slots, &ranked));
        assert_eq!(slots, [Some(1), Some(7), Some(3)]);
        // Silent people never displace silent occupants.
        let ranked = [r(4, false), r(5, false), r(7, false), r(1, false), r(3, false)];
        assert!(!neutral(&mut slots, &ranked));
    }

    #[test]
    fn nobody_loses_a_slot_in_the_middle_of_a_talkspurt() {
        let mut slots = [Some(1), Some(2)];
        // Both occupants talk; a louder newcomer waits.
        let ranked = [r(9, true), r(1, true), r(2, true)];
        assert!(!neutral(&mut slots, &ranked));
        assert_eq!(slots, [Some(1), Some(2)]);
        // 2 pauses: 9 gets 2's slot, 1 keeps talking in its own.
        let ranked = [r(9, true), r(1, true), r(2, false)];
        assert!(neutral(&mut slots, &ranked));
        assert_eq!(slots, [Some(1), Some(9)]);
    }

    #[test]
    fn muted_and_departed_occupants_are_removed_at_once() {
        let mut slots = [Some(1), Some(2), Some(3)];
        // 2 was muted by a moderator (no candidate); 3 left. 5 is silent
        // but the best of the rest: it gets a slot.
        let ranked = [r(1, true), r(5, false)];
        assert!(neutral(&mut slots, &ranked));
        assert_eq!(slots, [Some(1), Some(5), None]);
        assert!(!neutral(&mut slots, &ranked), "stable");
    }

    #[test]
    fn many_speakers_fill_the_slots_loudest_first_and_each_has_one_slot() {
        let mut slots = [None; 3];
        let ranked: Vec<Ranked<u8>> = (10..20).map(|k| r(k, true)).collect();
        assert!(neutral(&mut slots, &ranked));
        assert_eq!(slots, [Some(10), Some(11), Some(12)]);
        let mut seen: Vec<u8> = slots.iter().flatten().copied().collect();
        seen.dedup();
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn a_participant_gets_the_slot_named_after_them_whatever_the_order() {
        // Slots named 1, 2, 3; 3 ranks first (it spoke), 1 last.
        let named = [Some(1), Some(2), Some(3)];
        let mut slots = [None; 3];
        assert!(assign(&mut slots, &named, &[r(3, true), r(2, false), r(1, false)]));
        assert_eq!(slots, [Some(1), Some(2), Some(3)]);
        assert!(!assign(&mut slots, &named, &[r(2, true), r(3, true), r(1, false)]), "stable");
        // Muted and unmuted: back into its own slot, not the first free one.
        assert!(assign(&mut slots, &named, &[r(1, false), r(3, false)]));
        assert_eq!(slots, [Some(1), None, Some(3)]);
        assert!(assign(&mut slots, &named, &[r(2, true), r(1, false), r(3, false)]));
        assert_eq!(slots, [Some(1), Some(2), Some(3)]);
    }

    #[test]
    fn newcomers_leave_the_slots_of_absent_namesakes_free_for_them() {
        // Slot 0 is named after 1, who is muted; 2 is here; 4 has no
        // named slot: it takes the neutral one, not 1's.
        let named = [Some(1), Some(2), None];
        let mut slots = [None; 3];
        assert!(assign(&mut slots, &named, &[r(4, false), r(2, false)]));
        assert_eq!(slots, [None, Some(2), Some(4)]);
        // 1 is unmuted: its own slot is free.
        assert!(assign(&mut slots, &named, &[r(4, false), r(2, false), r(1, false)]));
        assert_eq!(slots, [Some(1), Some(2), Some(4)]);
        // Only when nothing else is free does a newcomer take a slot
        // named after someone else.
        let mut slots = [None, Some(2), Some(4)];
        assert!(assign(&mut slots, &named, &[r(6, true), r(2, false), r(4, false)]));
        assert_eq!(slots, [Some(6), Some(2), Some(4)]);
    }

    #[test]
    fn a_silent_stranger_makes_way_for_the_namesake_when_the_room_shrinks() {
        // The room was large: 7 took 2's slot. Now 2 is to be heard again
        // and a slot is free: 7 moves over, 2 gets its own.
        let named = [Some(1), Some(2), Some(3)];
        let mut slots = [Some(1), Some(7), None];
        assert!(assign(&mut slots, &named, &[r(1, false), r(2, false), r(7, false)]));
        assert_eq!(slots, [Some(1), Some(2), Some(7)]);
        // Two strangers in each other's named slots swap (both silent).
        let named = [Some(1), Some(2)];
        let mut slots = [Some(2), Some(1)];
        assert!(assign(&mut slots, &named, &[r(1, false), r(2, false)]));
        assert_eq!(slots, [Some(1), Some(2)]);
    }

    #[test]
    fn affinity_never_interrupts_a_talkspurt() {
        let named = [Some(1), Some(2)];
        // 7 talks in 2's slot: 2 waits in the free slot 1 was in.
        let mut slots = [None, Some(7)];
        assert!(assign(&mut slots, &named, &[r(7, true), r(2, false)]));
        assert_eq!(slots, [Some(2), Some(7)]);
        // 2 talks in slot 0 now: it stays there though 7 fell silent ...
        assert!(!assign(&mut slots, &named, &[r(2, true), r(7, false)]));
        assert_eq!(slots, [Some(2), Some(7)]);
        // ... and moves to its own slot once both are silent.
        assert!(assign(&mut slots, &named, &[r(2, false), r(7, false)]));
        assert_eq!(slots, [Some(7), Some(2)]);
    }

    #[test]
    fn a_named_slot_carries_others_only_in_a_large_room() {
        // K = 2, slots named 1 and 2; 3 speaks while both are silent: it
        // takes the slot of the one who spoke least recently (2), named or
        // not — a mismatched sync group until 2 is back.
        let named = [Some(1), Some(2)];
        let mut slots = [Some(1), Some(2)];
        assert!(assign(&mut slots, &named, &[r(3, true), r(1, false), r(2, false)]));
        assert_eq!(slots, [Some(1), Some(3)]);
        // 3 leaves: 2 returns to its own slot.
        assert!(assign(&mut slots, &named, &[r(1, false), r(2, false)]));
        assert_eq!(slots, [Some(1), Some(2)]);
    }
}
