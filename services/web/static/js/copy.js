// One-click copy of a shown secret (the guest passphrase, a join link): the button names the
// element whose text it copies in data-copy; the result is announced in #copy-status.

function announce(text) {
  const status = document.getElementById("copy-status");
  if (status) status.textContent = text;
}

async function copyFrom(button) {
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const text = source.textContent.trim();
  try {
    await navigator.clipboard.writeText(text);
    announce("Copied.");
  } catch {
    // No clipboard permission (plain http, an old browser): select it for Ctrl+C instead.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    announce("Selected: press Ctrl+C (or ⌘C) to copy.");
  }
}

for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", () => copyFrom(button));
}
