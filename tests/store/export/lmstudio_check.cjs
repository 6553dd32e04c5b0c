// Checks files lamina writes for LM Studio with LM Studio's own published schemas.
// Input on stdin: {"yaml": [paths of model.yaml files], "folders": [folder names]}.
// Output on stdout: {"yaml": [{path, ok, errors, document}], "folders": [{name, ok}]}.
"use strict";
const fs = require("fs");
const YAML = require("yaml");
const shared = require("@lmstudio/lms-shared-types");
const kv = require("@lmstudio/lms-kv-config");

function checkFields(config, scope, prefix, errors) {
  if (!config || !config[scope]) return;
  for (const field of config[scope].fields) {
    if (!field.key.startsWith(prefix)) {
      errors.push(`${field.key} is not a ${prefix}* key, so it does not belong in config.${scope}`);
      continue;
    }
    let schematic;
    try {
      schematic = kv.globalConfigSchematics.obtainFieldByFullKey(field.key);
    } catch (error) {
      errors.push(`${field.key}: unknown to LM Studio's config schema`);
      continue;
    }
    const parsed = schematic.schema.safeParse(field.value);
    if (!parsed.success) errors.push(`${field.key}: ${parsed.error.message}`);
  }
}

function checkYaml(path) {
  const errors = [];
  let document = null;
  try {
    document = YAML.parse(fs.readFileSync(path, "utf8"), { prettyErrors: true });
  } catch (error) {
    return { path, ok: false, errors: [`not YAML: ${error.message}`], document };
  }
  const parsed = shared.virtualModelDefinitionSchema.safeParse(document);
  if (!parsed.success) {
    errors.push(parsed.error.message);
  } else {
    const [owner, name] = document.model.split("/");
    if (!shared.kebabCaseSchema.safeParse(owner).success) errors.push(`owner ${owner} is not kebab-case`);
    if (!shared.kebabCaseWithDotsSchema.safeParse(name).success) errors.push(`name ${name} is not kebab-case`);
    checkFields(document.config, "load", "llm.load.", errors);
    checkFields(document.config, "operation", "llm.prediction.", errors);
  }
  return { path, ok: errors.length === 0, errors, document };
}

const input = JSON.parse(fs.readFileSync(0, "utf8"));
const folders = (input.folders || []).map((name) => ({
  name,
  ok: name.length <= 100 && shared.fileNameSchema.safeParse(name).success,
}));
process.stdout.write(JSON.stringify({ yaml: (input.yaml || []).map(checkYaml), folders }) + "\n");
