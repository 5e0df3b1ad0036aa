//! The appointments themselves: created, listed, changed and deleted for
//! their therapist; checked and updated for the room logic.

use std::collections::HashMap;

use zeroize::{Zeroize, Zeroizing};

use super::{
    AppointmentState, AppointmentView, Attendance, AttendanceEntry, Connection, ConsentView, DURATION_MINUTES,
    LinkRefusal, LinkState, LinkView, MAX_START_AHEAD_SECS, MAX_START_PAST_SECS, MAX_TITLE_CHARS, NewAppointment,
    Owner, PatientView, Refusal, Settings, label, random_room, random_token,
};
use crate::protocol::{AppointmentRole, WelcomeAppointment};

/// One patient link of an appointment.
#[derive(Debug)]
struct Link {
    n: u32,
    token: Zeroizing<String>,
    revoked: bool,
    /// The name the patient typed (the latest entry).
    name: Option<Zeroizing<String>>,
    consented_at: Option<i64>,
    consent_version: Option<String>,
    /// First entry into the meeting, and the latest departure.
    joined_at: Option<i64>,
    left_at: Option<i64>,
    /// The connection that uses the link now (the room logic's session).
    holder: Option<u64>,
    /// In the meeting now (else waiting, if it has a holder).
    present: bool,
}

impl Link {
    fn new(n: u32) -> Link {
        Link {
            n,
            token: Zeroizing::new(random_token()),
            revoked: false,
            name: None,
            consented_at: None,
            consent_version: None,
            joined_at: None,
            left_at: None,
            holder: None,
            present: false,
        }
    }

    fn state(&self) -> LinkState {
        match (self.revoked, self.holder.is_some(), self.present, self.joined_at.is_some()) {
            (true, ..) => LinkState::Revoked,
            (false, _, true, _) => LinkState::In,
            (false, true, false, _) => LinkState::Waiting,
            (false, false, false, true) => LinkState::Left,
            (false, false, false, false) => LinkState::Unused,
        }
    }
}

/// One appointment. Its strings are `Zeroizing`: wiped when it is deleted.
#[derive(Debug)]
struct Appointment {
    id: Zeroizing<String>,
    owner: Zeroizing<String>,
    owner_name: Zeroizing<String>,
    title: Option<Zeroizing<String>>,
    start: i64,
    duration_minutes: u32,
    group: bool,
    room: Zeroizing<String>,
    opens_at: i64,
    closes_at: i64,
    started_at: Option<i64>,
    ended_at: Option<i64>,
    links: Vec<Link>,
    /// Media, as far as the room logic reported it: the meeting was end-to-end
    /// encrypted whenever someone was in it; most present at once; a direct
    /// call carried it.
    e2ee_always: bool,
    most_present: usize,
    direct: bool,
}

impl Appointment {
    fn state(&self) -> AppointmentState {
        match (self.started_at, self.ended_at) {
            (_, Some(_)) => AppointmentState::Ended,
            (Some(_), None) => AppointmentState::Open,
            (None, None) => AppointmentState::Scheduled,
        }
    }

    fn view(&self) -> AppointmentView {
        AppointmentView {
            id: self.id.to_string(),
            title: self.title.as_ref().map(|t| t.to_string()),
            start: self.start,
            duration_minutes: self.duration_minutes,
            group: self.group,
            room: self.room.to_string(),
            opens_at: self.opens_at,
            closes_at: self.closes_at,
            state: self.state(),
            started_at: self.started_at,
            ended_at: self.ended_at,
            links: self
                .links
                .iter()
                .map(|l| LinkView {
                    n: l.n,
                    label: label(l.n),
                    token: l.token.to_string(),
                    path: format!("/t/{}", l.token.as_str()),
                    state: l.state(),
                    name: l.name.as_ref().map(|n| n.to_string()),
                    consented_at: l.consented_at,
                })
                .collect(),
        }
    }

    fn connection(&self) -> Connection {
        if self.direct && self.most_present <= 2 {
            Connection::Direct
        } else if self.e2ee_always {
            Connection::E2ee
        } else {
            Connection::Transit
        }
    }

    /// When it is deleted by itself.
    fn expires_at(&self, retention: i64) -> i64 {
        self.ended_at.unwrap_or(self.closes_at).saturating_add(retention)
    }

    fn link(&self, n: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.n == n)
    }

    fn link_mut(&mut self, n: u32) -> Option<&mut Link> {
        self.links.iter_mut().find(|l| l.n == n)
    }
}

/// A patient link, found by its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRef {
    /// The appointment's id.
    pub id: String,
    pub n: u32,
}

/// What a deleted appointment leaves to clean up in the rooms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// Its room (lower case).
    pub room: String,
    /// Sessions that used its links.
    pub holders: Vec<u64>,
}

/// Every appointment of the server, in memory.
#[derive(Debug)]
pub struct Store {
    settings: Settings,
    appointments: HashMap<String, Appointment>,
    /// Token → (appointment id, link number).
    tokens: HashMap<String, (String, u32)>,
    /// Room name → appointment id.
    rooms: HashMap<String, String>,
}

impl Store {
    pub fn new(settings: Settings) -> Store {
        Store { settings, appointments: HashMap::new(), tokens: HashMap::new(), rooms: HashMap::new() }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Appointments held now.
    pub fn len(&self) -> usize {
        self.appointments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.appointments.is_empty()
    }

    /// The therapist's own appointment `id`.
    fn own(&self, owner: &Owner, id: &str) -> Result<&Appointment, Refusal> {
        self.appointments.get(id).filter(|a| a.owner.as_str() == owner.username).ok_or(Refusal::NotFound)
    }

    fn own_mut(&mut self, owner: &Owner, id: &str) -> Result<&mut Appointment, Refusal> {
        self.appointments.get_mut(id).filter(|a| a.owner.as_str() == owner.username).ok_or(Refusal::NotFound)
    }

    /// The therapist's appointments, by start.
    pub fn list(&self, owner: &Owner) -> Vec<AppointmentView> {
        let mut own: Vec<&Appointment> =
            self.appointments.values().filter(|a| a.owner.as_str() == owner.username).collect();
        own.sort_by(|a, b| (a.start, a.id.as_str()).cmp(&(b.start, b.id.as_str())));
        own.into_iter().map(Appointment::view).collect()
    }

    /// A new appointment with its links.
    pub fn create(&mut self, owner: &Owner, new: NewAppointment, now: i64) -> Result<AppointmentView, Refusal> {
        let title = match new.title.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) if t.chars().count() > MAX_TITLE_CHARS || t.chars().any(char::is_control) => {
                return Err(Refusal::BadTitle);
            }
            Some(t) => Some(Zeroizing::new(t.to_string())),
        };
        if new.start < now - MAX_START_PAST_SECS || new.start > now + MAX_START_AHEAD_SECS {
            return Err(Refusal::BadStart);
        }
        if !DURATION_MINUTES.contains(&new.duration_minutes) {
            return Err(Refusal::BadDuration);
        }
        let limit = if new.group { self.settings.max_patients } else { 1 };
        if new.patients == 0 || new.patients > limit || (!new.group && new.patients != 1) {
            return Err(Refusal::TooManyPatients { limit });
        }
        let held = self.appointments.values().filter(|a| a.owner.as_str() == owner.username).count();
        if held >= self.settings.max_per_therapist {
            return Err(Refusal::TooManyAppointments { limit: self.settings.max_per_therapist });
        }
        let id = random_token();
        let room = random_room();
        let end = new.start + i64::from(new.duration_minutes) * 60;
        let appointment = Appointment {
            id: Zeroizing::new(id.clone()),
            owner: Zeroizing::new(owner.username.clone()),
            owner_name: Zeroizing::new(owner.display_name.clone()),
            title,
            start: new.start,
            duration_minutes: new.duration_minutes,
            group: new.group,
            room: Zeroizing::new(room.clone()),
            opens_at: new.start - self.settings.opens_before_secs,
            closes_at: end + self.settings.grace_after_secs,
            started_at: None,
            ended_at: None,
            links: (1..=new.patients).map(Link::new).collect(),
            e2ee_always: true,
            most_present: 0,
            direct: false,
        };
        for l in &appointment.links {
            self.tokens.insert(l.token.to_string(), (id.clone(), l.n));
        }
        self.rooms.insert(room, id.clone());
        let view = appointment.view();
        self.appointments.insert(id, appointment);
        Ok(view)
    }

    /// One more link for a group appointment.
    pub fn add_link(&mut self, owner: &Owner, id: &str) -> Result<AppointmentView, Refusal> {
        let max = self.settings.max_patients;
        let a = self.own_mut(owner, id)?;
        let limit = if a.group { max } else { 1 };
        if a.links.len() >= limit as usize {
            return Err(Refusal::TooManyPatients { limit });
        }
        let n = a.links.iter().map(|l| l.n).max().unwrap_or(0) + 1;
        let link = Link::new(n);
        let token = link.token.to_string();
        a.links.push(link);
        let view = a.view();
        self.tokens.insert(token, (id.to_string(), n));
        Ok(view)
    }

    /// Withdraws link `n`: it is refused from now on. Returns the
    /// appointment and the session that uses the link now, if any.
    pub fn revoke(
        &mut self,
        owner: &Owner,
        id: &str,
        n: u32,
        now: i64,
    ) -> Result<(AppointmentView, Option<u64>), Refusal> {
        let a = self.own_mut(owner, id)?;
        let link = a.link_mut(n).ok_or(Refusal::NotFound)?;
        link.revoked = true;
        let holder = link.holder.take();
        if std::mem::take(&mut link.present) {
            link.left_at = Some(now);
        }
        Ok((a.view(), holder))
    }

    /// Deletes the appointment and everything recorded about it.
    pub fn delete(&mut self, owner: &Owner, id: &str) -> Result<Deleted, Refusal> {
        self.own(owner, id)?;
        self.remove(id).ok_or(Refusal::NotFound)
    }

    fn remove(&mut self, id: &str) -> Option<Deleted> {
        let (mut key, mut a) = self.appointments.remove_entry(id)?;
        key.zeroize();
        for l in &mut a.links {
            if let Some((mut token, (mut id, _))) = self.tokens.remove_entry(l.token.as_str()) {
                token.zeroize();
                id.zeroize();
            }
            if let Some(v) = l.consent_version.as_mut() {
                v.zeroize();
            }
        }
        if let Some((mut room, mut id)) = self.rooms.remove_entry(a.room.as_str()) {
            room.zeroize();
            id.zeroize();
        }
        let holders = a.links.iter().filter_map(|l| l.holder).collect();
        Some(Deleted { room: a.room.to_string(), holders })
    }

    /// The attendance record, once the session ended.
    pub fn attendance(&self, owner: &Owner, id: &str) -> Result<Attendance, Refusal> {
        let a = self.own(owner, id)?;
        if a.ended_at.is_none() {
            return Err(Refusal::NotEnded);
        }
        let participants = a
            .links
            .iter()
            .filter_map(|l| {
                Some(AttendanceEntry {
                    label: label(l.n),
                    name: l.name.as_ref()?.to_string(),
                    consented_at: l.consented_at?,
                    consent_version: l.consent_version.clone()?,
                    joined_at: l.joined_at,
                    left_at: l.left_at,
                })
            })
            .collect();
        Ok(Attendance {
            practice: self.settings.practice.clone(),
            therapist: a.owner_name.to_string(),
            title: a.title.as_ref().map(|t| t.to_string()),
            start: a.start,
            duration_minutes: a.duration_minutes,
            group: a.group,
            started_at: a.started_at,
            ended_at: a.ended_at,
            connection: a.connection(),
            consent_version: self.settings.consent_version.clone(),
            participants,
        })
    }

    /// The link of `token` if it works at `now`.
    pub fn check_link(&self, token: &str, now: i64) -> Result<LinkRef, LinkRefusal> {
        let (id, n) = self.tokens.get(token).ok_or(LinkRefusal::Unknown)?;
        let a = self.appointments.get(id).ok_or(LinkRefusal::Unknown)?;
        let link = a.link(*n).ok_or(LinkRefusal::Unknown)?;
        if link.revoked {
            return Err(LinkRefusal::Revoked);
        }
        if a.ended_at.is_some() {
            return Err(LinkRefusal::Expired);
        }
        if now < a.opens_at {
            return Err(LinkRefusal::NotYet { opens_at: a.opens_at, start: a.start });
        }
        // A session running over its time keeps its links working until it
        // ends ([`Store::sweep`] ends it once nobody is in it).
        if now >= a.closes_at && a.started_at.is_none() {
            return Err(LinkRefusal::Expired);
        }
        Ok(LinkRef { id: id.clone(), n: *n })
    }

    /// Whether `link` (found before) still works at `now`.
    pub fn check_link_ref(&self, link: &LinkRef, now: i64) -> Result<(), LinkRefusal> {
        let token = self
            .appointments
            .get(&link.id)
            .and_then(|a| a.link(link.n))
            .map(|l| l.token.as_str())
            .ok_or(LinkRefusal::Unknown)?;
        self.check_link(token, now).map(|_| ())
    }

    /// What the patient with `token` sees, if the link works at `now`.
    pub fn patient_view(&self, token: &str, now: i64) -> Result<PatientView, LinkRefusal> {
        let link = self.check_link(token, now)?;
        let a = self.appointments.get(&link.id).ok_or(LinkRefusal::Unknown)?;
        let s = &self.settings;
        Ok(PatientView {
            practice: s.practice.clone(),
            therapist: a.owner_name.to_string(),
            title: a.title.as_ref().map(|t| t.to_string()),
            start: a.start,
            duration_minutes: a.duration_minutes,
            group: a.group,
            room: a.room.to_string(),
            link: label(link.n),
            consent: ConsentView {
                version: s.consent_version.clone(),
                text_de: s.consent_de.clone(),
                text_en: s.consent_en.clone(),
                privacy_url: s.privacy_url.clone(),
            },
        })
    }

    /// The appointment whose room is `room` (lower case).
    pub fn by_room(&self, room: &str) -> Option<&str> {
        self.rooms.get(room).map(String::as_str)
    }

    /// The room of appointment `id` (lower case).
    pub fn room_of(&self, id: &str) -> Option<&str> {
        self.appointments.get(id).map(|a| a.room.as_str())
    }

    /// The login name the appointment `id` belongs to.
    pub fn owner_of(&self, id: &str) -> Option<&str> {
        self.appointments.get(id).map(|a| a.owner.as_str())
    }

    /// Whether the session `id` has ended.
    pub fn has_ended(&self, id: &str) -> bool {
        self.appointments.get(id).is_some_and(|a| a.ended_at.is_some())
    }

    /// The session that uses `link` now.
    pub fn holder(&self, link: &LinkRef) -> Option<u64> {
        self.appointments.get(&link.id).and_then(|a| a.link(link.n)).and_then(|l| l.holder)
    }

    /// Session `holder` uses `link` from now on, as `name`, having accepted
    /// the consent version `version` at `now`.
    pub fn claim(&mut self, link: &LinkRef, holder: u64, name: &str, version: &str, now: i64) {
        if let Some(l) = self.appointments.get_mut(&link.id).and_then(|a| a.link_mut(link.n)) {
            l.holder = Some(holder);
            l.name = Some(Zeroizing::new(name.to_string()));
            l.consented_at = Some(now);
            l.consent_version = Some(version.to_string());
        }
    }

    /// Session `holder` no longer uses `link` (it closed, or was sent away).
    pub fn release(&mut self, link: &LinkRef, holder: u64, now: i64) {
        if let Some(l) = self.appointments.get_mut(&link.id).and_then(|a| a.link_mut(link.n))
            && l.holder == Some(holder)
        {
            l.holder = None;
            if std::mem::take(&mut l.present) {
                l.left_at = Some(now);
            }
        }
    }

    /// The patient of `link` is in the meeting.
    pub fn entered(&mut self, link: &LinkRef, now: i64) {
        if let Some(l) = self.appointments.get_mut(&link.id).and_then(|a| a.link_mut(link.n))
            && !l.present
        {
            l.present = true;
            l.joined_at.get_or_insert(now);
            l.left_at = None;
        }
    }

    /// The patient of `link` is not in the meeting (waiting, or left it).
    pub fn left(&mut self, link: &LinkRef, now: i64) {
        if let Some(l) = self.appointments.get_mut(&link.id).and_then(|a| a.link_mut(link.n))
            && std::mem::take(&mut l.present)
        {
            l.left_at = Some(now);
        }
    }

    /// The therapist opened the meeting of `id`.
    pub fn opened(&mut self, id: &str, now: i64) {
        if let Some(a) = self.appointments.get_mut(id) {
            a.started_at.get_or_insert(now);
        }
    }

    /// The session `id` ended: every link is refused from now on. Returns
    /// the sessions that used its links.
    pub fn end(&mut self, id: &str, now: i64) -> Vec<u64> {
        let Some(a) = self.appointments.get_mut(id) else {
            return Vec::new();
        };
        a.ended_at.get_or_insert(now);
        a.started_at.get_or_insert(now);
        let mut holders = Vec::new();
        for l in &mut a.links {
            if let Some(h) = l.holder.take() {
                holders.push(h);
            }
            if std::mem::take(&mut l.present) {
                l.left_at = Some(now);
            }
        }
        holders
    }

    /// How the meeting of `id` carries media now: `present` in it, end-to-end
    /// encrypted or not, a direct call or not.
    pub fn note_media(&mut self, id: &str, present: usize, e2ee: bool, direct: bool) {
        if let Some(a) = self.appointments.get_mut(id) {
            a.most_present = a.most_present.max(present);
            a.e2ee_always &= e2ee || present == 0;
            a.direct |= direct;
        }
    }

    /// What `welcome` says about appointment `id`.
    pub fn welcome(&self, id: &str, role: AppointmentRole) -> Option<WelcomeAppointment> {
        let a = self.appointments.get(id)?;
        Some(WelcomeAppointment {
            id: (role == AppointmentRole::Therapist).then(|| a.id.to_string()),
            title: a.title.as_ref().map(|t| t.to_string()),
            start: a.start,
            duration_minutes: a.duration_minutes,
            started_at: a.started_at,
            practice: self.settings.practice.clone(),
            role,
        })
    }

    /// Ends sessions whose window closed while nobody is in them (`running`
    /// says whether a room has a meeting now), and deletes appointments
    /// `record_retention_hours` after their end (or, never started, after
    /// their window closed). Returns what the deleted ones leave to clean up.
    pub fn sweep(&mut self, now: i64, running: impl Fn(&str) -> bool) -> Vec<Deleted> {
        for a in self.appointments.values_mut() {
            if a.started_at.is_some() && a.ended_at.is_none() && now >= a.closes_at && !running(a.room.as_str()) {
                a.ended_at = Some(now);
            }
        }
        let retention = self.settings.retention_secs;
        let due: Vec<String> =
            self.appointments.values().filter(|a| now >= a.expires_at(retention)).map(|a| a.id.to_string()).collect();
        due.into_iter().filter_map(|id| self.remove(&id)).collect()
    }
}
