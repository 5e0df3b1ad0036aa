// @ts-check
// Every text the client shows, in English and German. The language comes
// from the browser's preferences (navigator.languages), falling back to the
// operator's default (client.default_language).

const EN = {
  // Page frame
  home_link: '{app} – start page',
  skip: 'Skip to content',
  legal_nav: 'Legal',
  imprint: 'Imprint',
  privacy: 'Privacy',
  footer_note: 'Video and audio go only through this server. Nothing is recorded or stored.',
  footer_note_direct: 'Video and audio go only through this server, or directly between the two browsers when two people meet. Nothing is recorded or stored.',

  // Welcome
  welcome_title: 'Start or join a meeting',
  welcome_lead: 'Enter the name of a meeting, or create a new name that nobody can guess. Everyone who knows the name can join.',
  room_label: 'Meeting name',
  room_hint: 'Up to 64 letters, digits, hyphens, underscores or dots.',
  room_generate: 'New random name',
  room_required: 'Please enter a meeting name, or create a random one.',
  room_invalid: 'This meeting name is not possible. Use up to 64 letters, digits, hyphens (-), underscores (_) or dots (not at the start).',
  continue: 'Continue',

  // Pre-join
  prejoin_title: 'Ready to join?',
  prejoin_title_doc: 'Join {room} – {app}',
  prejoin_room: 'Meeting:',
  preview_off: 'Camera is off',
  preview_controls: 'Camera and microphone',
  camera: 'Camera',
  microphone: 'Microphone',
  no_devices: 'None found',
  camera_is_on: 'Camera on',
  camera_is_off: 'Camera off',
  mic_is_on: 'Microphone on',
  mic_is_off: 'Microphone off',
  name_label: 'Your name',
  name_required: 'Please enter your name so the others know who you are.',
  join: 'Join',
  camera_denied: 'The camera is blocked. Allow camera access for this site in your browser (the icon next to the address), then reload the page. You can also join without video.',
  camera_missing: 'No camera was found. Connect one and reload the page, or join without video.',
  camera_busy: 'The camera is in use by another program. Close that program and turn the camera on again.',
  camera_insecure: 'This browser does not allow camera access on this page. Use a current browser over https.',
  camera_failed: 'The camera could not be started. Try again, or join without video.',
  mic_denied: 'The microphone is blocked. Allow microphone access for this site in your browser (the icon next to the address), then reload the page. Others will not hear you until then.',
  mic_missing: 'No microphone was found. Connect one and reload the page; until then others cannot hear you.',
  mic_busy: 'The microphone is in use by another program. Close that program and turn the microphone on again.',
  mic_insecure: 'This browser does not allow microphone access on this page. Use a current browser over https.',
  mic_failed: 'The microphone could not be started. Try again.',

  // Call
  call_title_doc: '{room} – {app}',
  in_meeting: 'Meeting',
  videos: 'Videos',
  controls: 'Meeting controls',
  count: '{n} in the meeting',
  participants: 'Participants',
  participants_n: 'Participants ({n})',
  share_screen: 'Share screen',
  raise_hand: 'Raise hand',
  chat: 'Chat',
  speaker_view: 'Speaker view',
  shortcuts: 'Keyboard shortcuts',
  shortcuts_short: 'Shortcuts',
  leave: 'Leave',
  state_on: 'on',
  state_off: 'off',
  state_sharing: 'sharing',
  state_raised: 'raised',
  unread: '{n} unread messages',
  anonymous: 'Guest',
  you: 'You',
  you_name: '{name} (you)',
  screen_of: 'Screen of {name}',
  hand_raised: 'Hand raised',
  sharing: 'Sharing the screen',
  pin: 'Show {name} large',
  unpin: 'Stop showing {name} large',
  close_panel: 'Close panel',
  chat_messages: 'Chat messages',
  chat_empty: 'No messages yet. Messages are seen only by those in the meeting now and are not stored.',
  chat_input_label: 'Message to everyone',
  chat_placeholder: 'Message to everyone',
  send: 'Send',
  chat_from: 'Message from {name}: {text}',
  chat_offline: 'Not connected: the message was not sent. It can be sent once the connection is back.',
  quality_label: 'Connection: {q}',
  quality_unknown: 'not measured yet',
  quality_good: 'good',
  quality_fair: 'fair',
  quality_poor: 'poor',
  connecting: 'Connecting…',
  reconnecting: 'Reconnecting…',
  unreachable: 'The server cannot be reached. Check your internet connection.',
  connection_lost: 'The connection was lost.',
  server_restarting: 'The server is restarting.',
  reconnect_attempt: 'Reconnecting (attempt {n}).',
  retrying_in: 'Next try in {s} s',
  retry_now: 'Try now',
  reconnected: 'Connected again.',
  mode_direct: 'Direct connection, end-to-end encrypted',
  mode_server: 'Via the server, encrypted in transit',
  mode_direct_hint: 'Video and audio go directly between the two browsers, encrypted end to end: the server cannot see or hear them.',
  mode_server_hint: 'Video and audio go through this server, encrypted on the way there and back. The server forwards them and stores nothing.',
  mode_direct_now: 'Now connected directly, end-to-end encrypted.',
  mode_server_now: 'Now connected via the server, encrypted in transit.',
  joined_room: 'You joined the meeting {room}.',
  someone_joined: '{name} joined.',
  someone_left: '{name} left.',
  hand_raised_by: '{name} raised their hand.',
  hand_you_raised: 'Your hand is raised.',
  hand_you_lowered: 'Your hand is lowered.',
  view_tiles_now: 'Tile view',
  view_speaker_now: 'Speaker view',
  screen_started: 'You are sharing your screen.',
  screen_stopped: 'Screen sharing stopped.',
  screen_unsupported: 'This browser cannot share the screen.',
  screen_failed: 'The screen could not be shared. Try again.',
  left_title: 'You left the meeting',
  left_text: 'Chat and the list of participants are gone from this browser.',
  rejoin: 'Join again',
  to_start: 'Start page',
  cannot_join: 'Could not join',
  replaced_title: 'Joined elsewhere',
  replaced_text: 'You joined this meeting from another window or device, so this one was closed.',

  // Help
  help_intro: 'Shortcuts work whenever you are not typing in a text field.',
  key: 'Key',
  action: 'Action',
  key_space: 'Space',
  close: 'Close',
  help_mic: 'Microphone on or off',
  help_camera: 'Camera on or off',
  help_screen: 'Start or stop sharing the screen',
  help_chat: 'Open or close the chat',
  help_hand: 'Raise or lower your hand',
  help_view: 'Switch between tile and speaker view',
  help_ptt: 'Hold to talk while muted',
  help_help: 'Show this list',

  // Protocol errors (docs/protocol.md)
  err_bad_message: 'The server did not understand a message from this page. Reload the page; if it happens again, tell the operator.',
  err_unsupported_version: 'This page is out of date. Reload it to get the current version.',
  err_not_joined: 'You are not in the meeting any more. Join again.',
  err_bad_room_name: 'This meeting name is not possible. Go to the start page and choose another.',
  err_bad_display_name: 'This name is not possible. Use at most 64 characters; a name is required here.',
  err_room_full: 'This meeting is full. Try again later, or ask the host.',
  err_server_full: 'The server has no room for another meeting right now. Try again in a few minutes.',
  err_bad_sdp: 'Your browser and the server could not agree on how to send video and audio. Reload the page or try another browser.',
  err_chat_rejected: 'The message was not sent: it is empty, longer than 2000 characters, or you are sending too fast.',
  err_internal: 'The server had a problem. Reload the page to try again.',
};

/** @typedef {keyof typeof EN} Key */

/** @type {Record<Key, string>} */
const DE = {
  home_link: '{app} – Startseite',
  skip: 'Zum Inhalt springen',
  legal_nav: 'Rechtliches',
  imprint: 'Impressum',
  privacy: 'Datenschutz',
  footer_note: 'Bild und Ton laufen nur über diesen Server. Nichts wird aufgezeichnet oder gespeichert.',
  footer_note_direct: 'Bild und Ton laufen nur über diesen Server oder, wenn sich zwei Personen treffen, direkt zwischen beiden Browsern. Nichts wird aufgezeichnet oder gespeichert.',

  welcome_title: 'Besprechung starten oder beitreten',
  welcome_lead: 'Geben Sie den Namen einer Besprechung ein oder erzeugen Sie einen neuen Namen, den niemand erraten kann. Wer den Namen kennt, kann teilnehmen.',
  room_label: 'Name der Besprechung',
  room_hint: 'Bis zu 64 Buchstaben, Ziffern, Bindestriche, Unterstriche oder Punkte.',
  room_generate: 'Zufälliger Name',
  room_required: 'Bitte geben Sie einen Namen für die Besprechung ein oder erzeugen Sie einen zufälligen.',
  room_invalid: 'Dieser Name ist nicht möglich. Erlaubt sind bis zu 64 Buchstaben, Ziffern, Bindestriche (-), Unterstriche (_) oder Punkte (nicht am Anfang).',
  continue: 'Weiter',

  prejoin_title: 'Bereit zum Beitreten?',
  prejoin_title_doc: '{room} beitreten – {app}',
  prejoin_room: 'Besprechung:',
  preview_off: 'Kamera ist aus',
  preview_controls: 'Kamera und Mikrofon',
  camera: 'Kamera',
  microphone: 'Mikrofon',
  no_devices: 'Keine gefunden',
  camera_is_on: 'Kamera an',
  camera_is_off: 'Kamera aus',
  mic_is_on: 'Mikrofon an',
  mic_is_off: 'Mikrofon aus',
  name_label: 'Ihr Name',
  name_required: 'Bitte geben Sie Ihren Namen ein, damit die anderen wissen, wer Sie sind.',
  join: 'Beitreten',
  camera_denied: 'Die Kamera ist blockiert. Erlauben Sie dieser Seite den Kamerazugriff im Browser (Symbol neben der Adresse) und laden Sie die Seite neu. Sie können auch ohne Video teilnehmen.',
  camera_missing: 'Keine Kamera gefunden. Schließen Sie eine an und laden Sie die Seite neu, oder nehmen Sie ohne Video teil.',
  camera_busy: 'Die Kamera wird von einem anderen Programm benutzt. Schließen Sie dieses Programm und schalten Sie die Kamera wieder ein.',
  camera_insecure: 'Dieser Browser erlaubt auf dieser Seite keinen Kamerazugriff. Verwenden Sie einen aktuellen Browser über https.',
  camera_failed: 'Die Kamera konnte nicht gestartet werden. Versuchen Sie es erneut oder nehmen Sie ohne Video teil.',
  mic_denied: 'Das Mikrofon ist blockiert. Erlauben Sie dieser Seite den Mikrofonzugriff im Browser (Symbol neben der Adresse) und laden Sie die Seite neu. Bis dahin hören die anderen Sie nicht.',
  mic_missing: 'Kein Mikrofon gefunden. Schließen Sie eines an und laden Sie die Seite neu; bis dahin hören die anderen Sie nicht.',
  mic_busy: 'Das Mikrofon wird von einem anderen Programm benutzt. Schließen Sie dieses Programm und schalten Sie das Mikrofon wieder ein.',
  mic_insecure: 'Dieser Browser erlaubt auf dieser Seite keinen Mikrofonzugriff. Verwenden Sie einen aktuellen Browser über https.',
  mic_failed: 'Das Mikrofon konnte nicht gestartet werden. Versuchen Sie es erneut.',

  call_title_doc: '{room} – {app}',
  in_meeting: 'Besprechung',
  videos: 'Videos',
  controls: 'Steuerung der Besprechung',
  count: '{n} in der Besprechung',
  participants: 'Teilnehmende',
  participants_n: 'Teilnehmende ({n})',
  share_screen: 'Bildschirm teilen',
  raise_hand: 'Hand heben',
  chat: 'Chat',
  speaker_view: 'Sprecheransicht',
  shortcuts: 'Tastenkürzel',
  shortcuts_short: 'Kürzel',
  leave: 'Verlassen',
  state_on: 'an',
  state_off: 'aus',
  state_sharing: 'geteilt',
  state_raised: 'gehoben',
  unread: '{n} ungelesene Nachrichten',
  anonymous: 'Gast',
  you: 'Sie',
  you_name: '{name} (Sie)',
  screen_of: 'Bildschirm von {name}',
  hand_raised: 'Hand gehoben',
  sharing: 'Teilt den Bildschirm',
  pin: '{name} groß anzeigen',
  unpin: '{name} nicht mehr groß anzeigen',
  close_panel: 'Bereich schließen',
  chat_messages: 'Chatnachrichten',
  chat_empty: 'Noch keine Nachrichten. Nachrichten sehen nur die, die jetzt in der Besprechung sind; sie werden nicht gespeichert.',
  chat_input_label: 'Nachricht an alle',
  chat_placeholder: 'Nachricht an alle',
  send: 'Senden',
  chat_from: 'Nachricht von {name}: {text}',
  chat_offline: 'Keine Verbindung: Die Nachricht wurde nicht gesendet. Sobald die Verbindung wieder steht, können Sie sie senden.',
  quality_label: 'Verbindung: {q}',
  quality_unknown: 'noch nicht gemessen',
  quality_good: 'gut',
  quality_fair: 'mittel',
  quality_poor: 'schlecht',
  connecting: 'Verbinde…',
  reconnecting: 'Verbinde erneut…',
  unreachable: 'Der Server ist nicht erreichbar. Prüfen Sie Ihre Internetverbindung.',
  connection_lost: 'Die Verbindung ist abgebrochen.',
  server_restarting: 'Der Server startet neu.',
  reconnect_attempt: 'Neuer Verbindungsversuch ({n}).',
  retrying_in: 'Nächster Versuch in {s} s',
  retry_now: 'Jetzt versuchen',
  reconnected: 'Wieder verbunden.',
  mode_direct: 'Direktverbindung, Ende-zu-Ende-verschlüsselt',
  mode_server: 'Über den Server, verschlüsselt übertragen',
  mode_direct_hint: 'Bild und Ton gehen direkt zwischen den beiden Browsern, Ende-zu-Ende-verschlüsselt: Der Server kann sie weder sehen noch hören.',
  mode_server_hint: 'Bild und Ton gehen über diesen Server, auf dem Hin- und Rückweg verschlüsselt. Der Server leitet sie weiter und speichert nichts.',
  mode_direct_now: 'Jetzt direkt verbunden, Ende-zu-Ende-verschlüsselt.',
  mode_server_now: 'Jetzt über den Server verbunden, verschlüsselt übertragen.',
  joined_room: 'Sie sind der Besprechung {room} beigetreten.',
  someone_joined: '{name} ist beigetreten.',
  someone_left: '{name} hat die Besprechung verlassen.',
  hand_raised_by: '{name} hat die Hand gehoben.',
  hand_you_raised: 'Ihre Hand ist gehoben.',
  hand_you_lowered: 'Ihre Hand ist gesenkt.',
  view_tiles_now: 'Kachelansicht',
  view_speaker_now: 'Sprecheransicht',
  screen_started: 'Sie teilen Ihren Bildschirm.',
  screen_stopped: 'Bildschirmfreigabe beendet.',
  screen_unsupported: 'Dieser Browser kann den Bildschirm nicht teilen.',
  screen_failed: 'Der Bildschirm konnte nicht geteilt werden. Versuchen Sie es erneut.',
  left_title: 'Sie haben die Besprechung verlassen',
  left_text: 'Chat und Teilnehmerliste sind aus diesem Browser entfernt.',
  rejoin: 'Erneut beitreten',
  to_start: 'Startseite',
  cannot_join: 'Beitritt nicht möglich',
  replaced_title: 'Anderswo beigetreten',
  replaced_text: 'Sie sind dieser Besprechung in einem anderen Fenster oder Gerät beigetreten, deshalb wurde dieses geschlossen.',

  help_intro: 'Die Kürzel wirken immer, wenn Sie nicht gerade in ein Textfeld schreiben.',
  key: 'Taste',
  action: 'Aktion',
  key_space: 'Leertaste',
  close: 'Schließen',
  help_mic: 'Mikrofon ein oder aus',
  help_camera: 'Kamera ein oder aus',
  help_screen: 'Bildschirmfreigabe starten oder beenden',
  help_chat: 'Chat öffnen oder schließen',
  help_hand: 'Hand heben oder senken',
  help_view: 'Zwischen Kachel- und Sprecheransicht wechseln',
  help_ptt: 'Gedrückt halten, um stummgeschaltet zu sprechen',
  help_help: 'Diese Liste zeigen',

  err_bad_message: 'Der Server hat eine Nachricht dieser Seite nicht verstanden. Laden Sie die Seite neu; passiert es wieder, informieren Sie den Betreiber.',
  err_unsupported_version: 'Diese Seite ist veraltet. Laden Sie sie neu, um die aktuelle Version zu erhalten.',
  err_not_joined: 'Sie sind nicht mehr in der Besprechung. Treten Sie erneut bei.',
  err_bad_room_name: 'Dieser Name ist nicht möglich. Wählen Sie auf der Startseite einen anderen.',
  err_bad_display_name: 'Dieser Name ist nicht möglich. Verwenden Sie höchstens 64 Zeichen; ein Name ist hier erforderlich.',
  err_room_full: 'Diese Besprechung ist voll. Versuchen Sie es später erneut oder wenden Sie sich an die Gastgeberin oder den Gastgeber.',
  err_server_full: 'Der Server hat gerade keinen Platz für eine weitere Besprechung. Versuchen Sie es in einigen Minuten erneut.',
  err_bad_sdp: 'Ihr Browser und der Server konnten sich nicht auf die Übertragung von Bild und Ton einigen. Laden Sie die Seite neu oder verwenden Sie einen anderen Browser.',
  err_chat_rejected: 'Die Nachricht wurde nicht gesendet: Sie ist leer, länger als 2000 Zeichen, oder Sie senden zu schnell.',
  err_internal: 'Der Server hatte ein Problem. Laden Sie die Seite neu, um es erneut zu versuchen.',
};

/** The languages the client speaks. */
export const LANGUAGES = /** @type {const} */ (['en', 'de']);
/** @typedef {typeof LANGUAGES[number]} Language */

/** @type {Record<Language, Record<Key, string>>} */
export const STRINGS = { en: EN, de: DE };

/** @type {Language} */
let current = 'en';

/**
 * The first of the browser's preferred languages that the client speaks,
 * else the operator's default.
 * @param {readonly string[]} preferred e.g. navigator.languages
 * @param {string} fallback client.default_language
 * @returns {Language}
 */
export function chooseLanguage(preferred, fallback) {
  for (const tag of preferred) {
    const primary = String(tag).toLowerCase().split('-')[0];
    if (primary === 'de' || primary === 'en') return primary;
  }
  return fallback === 'de' ? 'de' : 'en';
}

/** @param {Language} lang */
export function setLanguage(lang) {
  current = lang;
  if (typeof document !== 'undefined') document.documentElement.lang = lang;
}

/** @returns {Language} */
export function language() {
  return current;
}

/**
 * The text for `key` in the current language, with `{name}` placeholders
 * filled from `params`.
 * @param {Key} key
 * @param {Record<string, string | number>} [params]
 */
export function t(key, params) {
  const text = STRINGS[current][key] ?? EN[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}
