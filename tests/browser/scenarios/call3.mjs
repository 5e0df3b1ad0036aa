// Three people in one room: within 10 s each decodes the video and receives
// the audio of both others. With `firefox`, the third one uses Firefox ESR.
import { axe, joinAll, launch, scenario, screenshot, sleep, uiState, uniqueRoom, waitAllReceiving } from '../lib/harness.mjs';

const withFirefox = process.argv.includes('firefox');

await scenario(async () => {
  const chromium = await launch();
  const firefox = withFirefox ? await launch({ engine: 'firefox' }) : null;
  const people = [
    { name: 'Anna Berg' },
    { name: 'Ben Okafor' },
    { name: 'Cleo Santos', browser: firefox ?? chromium },
  ];
  await joinAll(chromium, uniqueRoom('call3'), people);
  const ms = await waitAllReceiving(people, 10000);
  await sleep(1500);
  const ui = {};
  for (const p of people) ui[p.name] = await uiState(p.page);
  await screenshot(people[0].page, withFirefox ? 'call-3-firefox.png' : 'call-3.png');
  const axeTiles = await axe(people[0].page);
  // The speaker view and the participant list, for the record.
  await people[0].page.keyboard.press('t');
  await people[0].page.click('#ctl-people');
  await sleep(800);
  await screenshot(people[0].page, withFirefox ? 'call-3-firefox-speaker.png' : 'call-3-speaker.png');
  const axeSpeaker = await axe(people[0].page);
  // The last one in Chromium chats, so the panel is seen with a message.
  await people[1].page.keyboard.press('c');
  await people[1].page.keyboard.type('Hallo zusammen!');
  await people[1].page.keyboard.press('Enter');
  await sleep(800);
  await screenshot(people[1].page, withFirefox ? 'call-3-firefox-chat.png' : 'call-3-chat.png');
  const axeChat = await axe(people[1].page);
  return { ms, ui, axe: { tiles: axeTiles, speaker: axeSpeaker, chat: axeChat }, engines: people.map((p) => (p.browser === firefox ? 'firefox' : 'chromium')) };
});
