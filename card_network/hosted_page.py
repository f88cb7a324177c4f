"""The network's own card-entry page. Card numbers are typed here, never on FacePay."""

from __future__ import annotations

from jinja2 import Environment

_ENV = Environment(autoescape=True)

_PAGE = _ENV.from_string(
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandbox Card Network — add a card</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 26rem; margin: 2rem auto; padding: 0 1rem; }
label { display: block; margin-top: .8rem; }
input { width: 100%; padding: .5rem; font-size: 1rem; box-sizing: border-box; }
.row { display: flex; gap: .5rem; } .error { color: #b00020; }
button { margin-top: 1.2rem; width: 100%; padding: .7rem; font-size: 1rem; }
small { color: #555; }
</style>
</head>
<body>
<h1>Add a card</h1>
<p><small>Sandbox Card Network — your card number stays with the network. The merchant
receives a network token restricted to unattended-cabinet payments.</small></p>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="{{ action }}" autocomplete="off">
  <label>Card number <input name="pan" inputmode="numeric" required
    pattern="[0-9 \\-]{12,23}" autocomplete="cc-number"></label>
  <div class="row">
    <label>Month <input name="exp_month" inputmode="numeric" required maxlength="2"></label>
    <label>Year <input name="exp_year" inputmode="numeric" required maxlength="4"></label>
    <label>CVC <input name="cvc" inputmode="numeric" required maxlength="4"></label>
  </div>
  <button type="submit">Save card</button>
</form>
</body>
</html>
"""
)


def render_enroll_page(action: str, error: str = "") -> str:
    return _PAGE.render(action=action, error=error)
