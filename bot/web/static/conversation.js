// The conversation's behaviour, run once when Gradio first shows it (gr.HTML js_on_load, with
// Gradio's `element`, `trigger`, `server` and `watch`). A [n] marker, a source card's button or
// "read the whole section" opens the cited passage beside the answer: in the side panel on a wide
// screen, in a sheet over the lower part of a phone's screen. Escape or "Close" closes it and
// gives the focus back. Related questions and feedback go to the server as events. Everything
// put into the page here was rendered and sanitised on the server.
const reader = window.cjReader = window.cjReader || {};
reader.server = server;
reader.root = element;

const panel = () => document.querySelector('#viewer .viewer-panel');
const phone = () => window.matchMedia('(max-width: 720px)').matches;

function markOpen(button) {
  document.querySelectorAll('[aria-controls="viewer"][aria-expanded="true"]')
    .forEach((b) => b.setAttribute('aria-expanded', 'false'));
  if (button) button.setAttribute('aria-expanded', 'true');
}

function opener() {
  // The button that opened the passage, found again if the conversation was redrawn since.
  const key = reader.opened;
  if (!key) return null;
  if (key.button && document.contains(key.button)) return key.button;
  return reader.root.querySelector(`button.${key.kind}[data-card="${key.card}"]`);
}

reader.close = function (giveFocusBack) {
  const view = panel();
  if (!view || !view.classList.contains('open')) return false;
  view.classList.remove('open');
  document.body.classList.remove('viewer-open');
  view.querySelector('.viewer-body').innerHTML = reader.placeholder || '';
  markOpen(null);
  const back = opener();
  if (giveFocusBack && back) back.focus();
  return true;
};

reader.open = async function (button, fromViewer) {
  const card = document.getElementById(button.dataset.card);
  const view = panel();
  if (!card || !view) return;
  const body = view.querySelector('.viewer-body');
  if (reader.placeholder === undefined) reader.placeholder = body.innerHTML;
  // "Read the whole section" inside the panel keeps the button the focus goes back to
  if (!fromViewer) reader.opened = {button, card: button.dataset.card, kind: button.classList[0]};
  const ticket = (reader.ticket = (reader.ticket || 0) + 1);
  view.classList.add('open');
  document.body.classList.add('viewer-open');
  if (!fromViewer) markOpen(button);
  body.setAttribute('aria-busy', 'true');
  body.innerHTML = '<p class="viewer-loading">Opening the passage…</p>';
  let html = '';
  try {
    html = await reader.server.passage({
      source: card.dataset.source, n: Number(card.dataset.n), quote: card.dataset.quote,
      page: card.dataset.page ? Number(card.dataset.page) : null,
      section: card.dataset.section || null, whole: button.dataset.whole === 'yes',
    });
  } catch (error) {
    html = '';
  }
  if (ticket !== reader.ticket) return;  // another passage was asked for meanwhile
  body.innerHTML = (typeof html === 'string' && html) ? html :
    '<p>The passage could not be opened. Please try again.</p>';
  body.removeAttribute('aria-busy');
  if (button.dataset.whole !== 'yes' && body.querySelector('mark')) {
    const more = document.createElement('button');
    more.type = 'button';
    more.className = 'whole-section';
    more.dataset.card = button.dataset.card;
    more.dataset.whole = 'yes';
    more.textContent = 'Read the whole section';
    body.appendChild(more);
  }
  const title = body.querySelector('h3') || body;
  title.setAttribute('tabindex', '-1');
  title.focus({preventScroll: true});
  const mark = body.querySelector('mark');
  body.scrollTop = mark ? Math.max(0, mark.offsetTop - body.clientHeight / 4) : 0;
  if (phone() && !fromViewer) {  // keep the tapped marker in sight above the sheet
    const top = button.getBoundingClientRect().top;
    window.scrollBy({top: top - window.innerHeight * 0.12});
  }
};

if (!reader.installed) {
  reader.installed = true;
  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    const view = panel();
    const inside = view && (view.contains(document.activeElement) ||
                            document.activeElement === document.body);
    if (reader.close(inside)) event.preventDefault();
  });
  document.addEventListener('click', (event) => {
    const button = event.target.closest('#viewer button');
    if (!button) return;
    if (button.classList.contains('viewer-close')) reader.close(true);
    else if (button.dataset.card) reader.open(button, true);
  });
}

element.addEventListener('click', (event) => {
  const button = event.target.closest('button');
  if (!button || !element.contains(button)) return;
  if (button.dataset.card) {
    reader.open(button);
  } else if (button.dataset.ask) {
    trigger('ask', {question: button.dataset.ask});
  } else if (button.dataset.feedback) {
    reader.focusAfter = button.closest('.feedback').id;
    trigger('feedback', {turn: Number(button.dataset.turn), value: button.dataset.feedback});
  }
});

let shown = element.querySelectorAll('article.turn').length;
watch('value', () => {
  const turns = element.querySelectorAll('article.turn');
  if (turns.length === 0) reader.close(false);
  if (reader.focusAfter) {
    const box = document.getElementById(reader.focusAfter);
    reader.focusAfter = null;
    if (box) (box.querySelector('button') || box).focus();
  } else if (turns.length > shown) {
    turns[turns.length - 1].scrollIntoView({block: 'start'});
  }
  shown = turns.length;
  const back = reader.opened && panel() && panel().classList.contains('open') && opener();
  if (back) back.setAttribute('aria-expanded', 'true');
});
