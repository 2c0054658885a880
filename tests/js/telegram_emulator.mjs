// telegram-test-api (npm), a Telegram Bot API emulator, on 127.0.0.1:$PORT for
// tests/integration/test_telegram_emulator.py. It serves the Bot API (/bot<token>/<method>)
// and its client API (POST /sendMessage, /getUpdates, /getUpdatesHistory) until killed.
// stdout: one line once it listens, then one line per message the bot sends or edits.
import TelegramServer from "telegram-test-api";

const port = Number(process.env.PORT);
if (!port) {
  console.error("set PORT to the port to listen on");
  process.exit(2);
}
const server = new TelegramServer({ port, host: "127.0.0.1", storeTimeout: 600 });
server.on("AddedBotMessage", () => console.log("bot message"));
server.on("EditedMessageText", () => console.log("bot edit"));
await server.start();
console.log(`telegram-test-api listening on ${server.config.apiURL}`);
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, async () => {
    await server.stop();
    process.exit(0);
  });
}
