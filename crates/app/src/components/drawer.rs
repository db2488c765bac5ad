//! The side panel as a drawer on a phone: at narrow widths (the stylesheet
//! decides, at 700 px) the panel is hidden behind the header's "N online"
//! button, which opens it over the stream. Escape, its close button and a
//! click beside it close it; focus moves into it on opening and back to the
//! button on closing, so a keyboard user never loses their place; focus
//! leaving it for the page behind closes it too.
//!
//! [`Drawer`] is the state both ends share, through context: the button is
//! in the header, the panel in the room.

use leptos::ev;
use leptos::html::Button;
use leptos::prelude::*;
use leptos::web_sys;

use crate::chat::Chat;

/// Whether the drawer is open, and the two buttons focus moves between.
#[derive(Debug, Clone, Copy)]
pub struct Drawer {
    /// Open (only visible at narrow widths).
    open: RwSignal<bool>,
    /// The header's button, where focus returns on closing.
    toggle: NodeRef<Button>,
    /// The drawer's close button, where focus goes on opening.
    close: NodeRef<Button>,
}

impl Default for Drawer {
    fn default() -> Self {
        Self {
            open: RwSignal::new(false),
            toggle: NodeRef::new(),
            close: NodeRef::new(),
        }
    }
}

impl Drawer {
    /// Shares a closed drawer with the header and the side panel below.
    pub fn provide() {
        provide_context(Self::default());
    }

    /// The shared drawer (a lone one if none was provided: then nothing
    /// opens it, and the panel simply stays where the stylesheet puts it).
    pub fn get() -> Self {
        use_context().unwrap_or_default()
    }

    /// Whether it is open.
    pub fn is_open(self) -> bool {
        self.open.get()
    }

    /// Opens it and puts the keyboard inside, once it is shown.
    fn show(self) {
        self.open.set(true);
        let close = self.close;
        request_animation_frame(move || {
            if let Some(button) = close.get_untracked() {
                let _ = button.focus();
            }
        });
    }

    /// Closes it, if open, and gives the keyboard back to the header's
    /// button.
    pub fn hide(self) {
        if !self.open.get_untracked() {
            return;
        }
        self.open.set(false);
        if let Some(button) = self.toggle.get_untracked() {
            // Only a detached button fails; then there is nowhere to go.
            let _ = button.focus();
        }
    }

    /// Focus left the drawer's element for `to` (Shift+Tab past its start,
    /// say): it closes, since what it covers is where the keyboard went. A
    /// click on its own text moves focus nowhere (`None`) and keeps it open.
    pub fn focus_moved(self, to: Option<web_sys::EventTarget>) {
        use leptos::wasm_bindgen::JsCast;
        let outside = to
            .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|element| matches!(element.closest("#side-panel"), Ok(None)));
        if outside && self.open.get_untracked() {
            self.open.set(false);
        }
    }

    /// The drawer's own parts: the shade behind it (a click there closes
    /// it), its close button, and Escape anywhere on the page.
    pub fn parts(self) -> (impl IntoView, impl IntoView) {
        let escape = window_event_listener(ev::keydown, move |ev| {
            if ev.key() == "Escape" {
                self.hide();
            }
        });
        on_cleanup(move || escape.remove());
        let backdrop = view! {
            <div class="backdrop" class:open=move || self.is_open() on:click=move |_| self.hide()></div>
        };
        let close = view! {
            <button type="button" class="drawer-close" aria-label="Close the list" node_ref=self.close on:click=move |_| self.hide()>
                "×"
            </button>
        };
        (backdrop, close)
    }
}

/// The header's "N online" button (shown at narrow widths only), which
/// opens the side panel as a drawer.
#[component]
pub fn OnlineToggle(chat: Chat) -> impl IntoView {
    let drawer = Drawer::get();
    let count = move || chat.view.with(|v| format!("{} online", v.users.len()));
    view! {
        <Show when=move || chat.account.with(Option::is_some)>
            <button
                type="button"
                id="online-toggle"
                aria-controls="side-panel"
                aria-expanded=move || drawer.is_open().to_string()
                node_ref=drawer.toggle
                on:click=move |_| drawer.show()
            >
                {count}
            </button>
        </Show>
    }
}
