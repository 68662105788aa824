import { loadSession, login } from "/static/api.js";

const form = document.getElementById("login-form");
const errorBox = document.getElementById("login-error");

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) {
    showError("Enter your username and password.");
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await login(username, password);
    window.location.replace("/");
  } catch (error) {
    showError(error.message);
    form.password.value = "";
    form.password.focus();
  } finally {
    button.disabled = false;
  }
});

// Already logged in (another tab): straight to the dashboard.
loadSession().then((session) => {
  if (session) window.location.replace("/");
}).catch(() => {});
