// What the editor page (static/editor.js) takes from CodeMirror 6, bundled by build.sh
// into static/vendor/codemirror.js. Add an export here, then run ./build.sh.

export { basicSetup } from "codemirror";
export { Compartment, EditorState } from "@codemirror/state";
export { EditorView, keymap } from "@codemirror/view";
export { indentWithTab } from "@codemirror/commands";
export { indentUnit } from "@codemirror/language";
export { python } from "@codemirror/lang-python";
