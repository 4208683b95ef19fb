// openai-node against `finetune-kit local serve` (not run by CI).
//
//   npm install openai
//   finetune-kit local serve --model tiny=./models/tiny --port 8000 &
//   OPENAI_BASE_URL=http://127.0.0.1:8000/v1 OPENAI_API_KEY=sk-local node examples/local_node_client.mjs
//
// Lists the served models, then asks the first one (or MODEL) a question, greedily.
import OpenAI from "openai";

const client = new OpenAI(); // OPENAI_BASE_URL and OPENAI_API_KEY from the environment
const models = [];
for await (const model of client.models.list()) models.push(model.id);
console.log("models:", models.join(", "));

const model = process.env.MODEL ?? models[0];
const reply = await client.chat.completions.create({
  model,
  messages: [{ role: "user", content: "What is the capital of France?" }],
  temperature: 0,
  max_tokens: 8,
});
console.log(`${model}:`, JSON.stringify(reply.choices[0].message.content));
console.log("finish_reason:", reply.choices[0].finish_reason, "usage:", JSON.stringify(reply.usage));
