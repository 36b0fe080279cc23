// Lint several source texts as if they were files in the workspace, in one ESLint process.
// stdin: JSON [{ filePath, code }]; stdout: JSON [[ "ruleId: message", ... ], ...] in the same order.
import { ESLint } from 'eslint';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const cases = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const eslint = new ESLint({ cwd: process.cwd() });
const out = [];
for (const { filePath, code } of cases) {
  const [result] = await eslint.lintText(code, { filePath });
  out.push((result?.messages ?? []).map((m) => `${m.ruleId ?? 'fatal'}: ${m.message}`));
}
process.stdout.write(JSON.stringify(out));
