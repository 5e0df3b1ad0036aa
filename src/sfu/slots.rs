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
//! Pure: the engine rewrites sequence numbers and timestamps on a switch
//! ([`super::rewrite`]) so each slot stays one continuous RTP stream.

use super::speaker::Ranked;

/// Gives out `slots` (their occupants, in m-line order) to `ranked`, the
/// candidates for this subscriber (the subscriber itself, muted
/// participants and those without a microphone already left out).
/// Returns whether any slot changed.
pub fn assign<K: Copy + Eq>(slots: &mut [Option<K>], ranked: &[Ranked<K>]) -> bool {
    let before: Vec<Option<K>> = slots.to_vec();
    let rank = |k: K| ranked.iter().position(|r| r.who == k);
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
    for k in wanted {
        if seated(slots, k) {
            continue;
        }
        if let Some(free) = slots.iter_mut().find(|s| s.is_none()) {
            *free = Some(k);
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

    #[test]
    fn a_small_room_gives_everyone_a_slot_of_their_own_for_good() {
        let mut slots = [None; 3];
        assert!(assign(&mut slots, &[r(1, false), r(2, false)]));
        assert_eq!(slots, [Some(1), Some(2), None]);
        // Talking changes nothing: everyone is already heard.
        assert!(!assign(&mut slots, &[r(2, true), r(1, false)]));
        assert!(!assign(&mut slots, &[r(1, true), r(2, true)]));
        // A third joins the free slot; the others stay where they are.
        assert!(assign(&mut slots, &[r(3, true), r(1, false), r(2, false)]));
        assert_eq!(slots, [Some(1), Some(2), Some(3)]);
        // Someone leaves: the slot is freed, nobody moves.
        assert!(assign(&mut slots, &[r(1, false), r(3, false)]));
        assert_eq!(slots, [Some(1), None, Some(3)]);
    }

    #[test]
    fn a_new_voice_takes_the_slot_of_a_silent_occupant() {
        let mut slots = [Some(1), Some(2), Some(3)];
        // 7 speaks; 2 spoke least recently of the occupants.
        let ranked = [r(7, true), r(1, false), r(3, false), r(2, false), r(4, false)];
        assert!(assign(&mut slots, &ranked));
        assert_eq!(slots, [Some(1), Some(7), Some(3)]);
        // Silent people never displace silent occupants.
        let ranked = [r(4, false), r(5, false), r(7, false), r(1, false), r(3, false)];
        assert!(!assign(&mut slots, &ranked));
    }

    #[test]
    fn nobody_loses_a_slot_in_the_middle_of_a_talkspurt() {
        let mut slots = [Some(1), Some(2)];
        // Both occupants talk; a louder newcomer waits.
        let ranked = [r(9, true), r(1, true), r(2, true)];
        assert!(!assign(&mut slots, &ranked));
        assert_eq!(slots, [Some(1), Some(2)]);
        // 2 pauses: 9 gets 2's slot, 1 keeps talking in its own.
        let ranked = [r(9, true), r(1, true), r(2, false)];
        assert!(assign(&mut slots, &ranked));
        assert_eq!(slots, [Some(1), Some(9)]);
    }

    #[test]
    fn muted_and_departed_occupants_are_removed_at_once() {
        let mut slots = [Some(1), Some(2), Some(3)];
        // 2 was muted by a moderator (no candidate); 3 left. 5 is silent
        // but the best of the rest: it gets a slot.
        let ranked = [r(1, true), r(5, false)];
        assert!(assign(&mut slots, &ranked));
        assert_eq!(slots, [Some(1), Some(5), None]);
        assert!(!assign(&mut slots, &ranked), "stable");
    }

    #[test]
    fn many_speakers_fill_the_slots_loudest_first_and_each_has_one_slot() {
        let mut slots = [None; 3];
        let ranked: Vec<Ranked<u8>> = (10..20).map(|k| r(k, true)).collect();
        assert!(assign(&mut slots, &ranked));
        assert_eq!(slots, [Some(10), Some(11), Some(12)]);
        let mut seen: Vec<u8> = slots.iter().flatten().copied().collect();
        seen.dedup();
        assert_eq!(seen.len(), 3);
    }
}
