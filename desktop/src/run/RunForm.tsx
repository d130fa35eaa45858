// The run form: one field per declared input, typed as the workflow declares it (text,
// number, whole number, yes/no, JSON for objects and lists), defaults filled in. The values
// go to the engine as typed JSON; it checks them again.
import { useState } from "react";
import type { InputField } from "../types/desktop";

export type FormValues = Record<string, string | boolean>;

export function initialValues(inputs: InputField[]): FormValues {
  const values: FormValues = {};
  for (const input of inputs) {
    const d = input.default;
    if (input.type === "boolean") values[input.name] = d === true;
    else if (d === undefined || d === null) values[input.name] = "";
    else values[input.name] = typeof d === "string" ? d : JSON.stringify(d);
  }
  return values;
}

/** The inputs as the engine takes them, or the first field that does not parse. */
export function toInputs(
  inputs: InputField[],
  values: FormValues,
): { inputs: Record<string, unknown> } | { error: string } {
  const out: Record<string, unknown> = {};
  for (const input of inputs) {
    const raw = values[input.name];
    if (typeof raw === "boolean") {
      out[input.name] = raw;
      continue;
    }
    const text = (raw ?? "").trim();
    if (text === "") {
      if (input.default === undefined || input.default === null) return { error: `${input.name} is required` };
      continue; // the default applies
    }
    switch (input.type) {
      case "string":
        out[input.name] = raw;
        break;
      case "number":
      case "integer": {
        const n = Number(text);
        if (Number.isNaN(n) || (input.type === "integer" && !Number.isInteger(n)))
          return { error: `${input.name} must be ${input.type === "integer" ? "a whole number" : "a number"}` };
        out[input.name] = n;
        break;
      }
      case "object":
      case "array": {
        try {
          out[input.name] = JSON.parse(text);
        } catch {
          return { error: `${input.name} must be JSON (${input.type === "object" ? "{…}" : "[…]"})` };
        }
        break;
      }
      case "boolean":
        out[input.name] = text === "true";
        break;
    }
  }
  return { inputs: out };
}

export function RunForm(props: {
  inputs: InputField[];
  disabled: boolean;
  onStart: (inputs: Record<string, unknown>) => void;
}) {
  const [values, setValues] = useState<FormValues>(() => initialValues(props.inputs));
  const [error, setError] = useState<string>();
  return (
    <form
      className="run-form"
      data-testid="run-form"
      onSubmit={(e) => {
        e.preventDefault();
        const parsed = toInputs(props.inputs, values);
        if ("error" in parsed) setError(parsed.error);
        else {
          setError(undefined);
          props.onStart(parsed.inputs);
        }
      }}
    >
      {props.inputs.map((input) => (
        <label key={input.name} className="field" title={input.description ?? undefined}>
          <span>
            {input.name} <small>{input.type}</small>
          </span>
          {input.type === "boolean" ? (
            <input
              type="checkbox"
              name={input.name}
              checked={values[input.name] === true}
              onChange={(e) => setValues({ ...values, [input.name]: e.target.checked })}
            />
          ) : (
            <input
              name={input.name}
              inputMode={input.type === "number" || input.type === "integer" ? "decimal" : undefined}
              placeholder={input.description ?? ""}
              value={String(values[input.name] ?? "")}
              onChange={(e) => setValues({ ...values, [input.name]: e.target.value })}
            />
          )}
        </label>
      ))}
      {error && <div className="error">{error}</div>}
      <button type="submit" className="primary" disabled={props.disabled}>
        ▶ Run
      </button>
    </form>
  );
}
