//! Per-address bookkeeping without keeping addresses: a client's address is
//! reduced to a keyed 64-bit hash (an IPv4 address, or the /64 of an IPv6
//! address, which is what one customer usually gets; an IPv4-mapped IPv6
//! address counts as its IPv4 address), and [`AddressSlots`] counts what
//! each key holds. Nothing here is logged, and the hashes mean nothing
//! after a restart (the key is random per start).
//!
//! Used for throttling password guesses (`auth::throttle`), the
//! per-address connection caps of the listeners (`http`) and the
//! per-address limit of waiting sessions (`room`).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The anonymous key of `ip` under `keys`.
pub fn address_key(keys: &std::hash::RandomState, ip: IpAddr) -> u64 {
    let mut h = keys.build_hasher();
    match ip {
        IpAddr::V4(v4) => v4.octets().hash(&mut h),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().hash(&mut h),
            None => v6.octets()[..8].hash(&mut h),
        },
    }
    h.finish()
}

/// Counts what each address holds (connections, waiting sessions), up to
/// a cap per address. Shared between tasks; a [`Slot`] gives its place back
/// when dropped.
#[derive(Debug)]
pub struct AddressSlots {
    cap: usize,
    keys: std::hash::RandomState,
    held: Mutex<HashMap<u64, usize>>,
}

/// One place held by an address in [`AddressSlots`].
#[derive(Debug)]
pub struct Slot {
    slots: Arc<AddressSlots>,
    key: u64,
}

impl AddressSlots {
    pub fn new(cap: usize) -> Arc<AddressSlots> {
        Arc::new(AddressSlots { cap, keys: std::hash::RandomState::new(), held: Mutex::new(HashMap::new()) })
    }

    /// A place for `ip`, or `None` when it holds `cap` already.
    pub fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let key = address_key(&self.keys, ip);
        let mut held = self.lock();
        let n = held.entry(key).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(Slot { slots: Arc::clone(self), key })
    }

    /// Addresses holding at least one place.
    pub fn addresses(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, usize>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.lock();
        if let Some(n) = held.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// The same counting without a lock, for the single-threaded room logic:
/// keys are computed by the caller with [`address_key`].
#[derive(Debug, Default)]
pub struct Counts(HashMap<u64, usize>);

impl Counts {
    pub fn get(&self, key: u64) -> usize {
        self.0.get(&key).copied().unwrap_or(0)
    }

    pub fn add(&mut self, key: u64) {
        *self.0.entry(key).or_insert(0) += 1;
    }

    pub fn remove(&mut self, key: u64) {
        if let Some(n) = self.0.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.0.remove(&key);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_cap_places_and_gets_them_back() {
        let slots = AddressSlots::new(2);
        let a: IpAddr = "192.0.2.1".parse().expect("literal");
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("literal");
        let b: IpAddr = "2001:db8::1".parse().expect("literal");
        let same64: IpAddr = "2001:db8::ffff:1".parse().expect("literal");
        let one = slots.take(a).expect("first");
        let _two = slots.take(mapped).expect("second, same address");
        assert!(slots.take(a).is_none(), "over the cap");
        let _b1 = slots.take(b).expect("another address");
        let _b2 = slots.take(same64).expect("same /64");
        assert!(slots.take(b).is_none());
        drop(one);
        assert!(slots.take(a).is_some(), "a place came back");
        assert_eq!(slots.addresses(), 2);
    }
}
