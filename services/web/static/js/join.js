// The join page: the link's token is in the URL fragment (never sent to a server); move it into
// the form and drop it from the address bar, so it is not left in history or shared by accident.

const token = decodeURIComponent(window.location.hash.replace(/^#/, ""));
const field = document.getElementById("join-token");
const button = document.getElementById("join-btn");
if (token && field) {
  field.value = token;
  window.history.replaceState(null, "", window.location.pathname);
} else if (field && !field.value && button) {
  button.disabled = true;
  const hint = document.getElementById("join-hint");
  if (hint) hint.textContent = "This page needs the link from a join code. Scan the QR code again, or ask for a new one.";
}
