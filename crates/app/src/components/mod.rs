//! The page's parts. Each takes the [`Chat`](crate::chat::Chat) state as a
//! prop, renders from its signals, and calls its actions. Everything a user
//! typed is rendered as text nodes, never as HTML.

mod auth;
mod composer;
mod drawer;
mod messages;
mod pending;
mod side_panel;
mod status;
mod theme;

pub use auth::{Account, AuthForm, AuthStart};
pub use composer::Composer;
pub use drawer::{Drawer, OnlineToggle};
pub use messages::{MessageList, TypingIndicator};
pub use pending::PendingMessages;
pub use side_panel::SidePanel;
pub use status::ConnectionStatus;
pub use theme::{ThemeToggle, theme_script};

/// Puts the keyboard in the element `find` returns once it is on the page
/// (`move || input.get().map(Into::into)`), so a keyboard user can type at
/// once.
fn focus_on_mount(find: impl Fn() -> Option<leptos::web_sys::HtmlElement> + 'static) {
    use leptos::prelude::*;
    Effect::new(move |_| {
        if let Some(element) = find() {
            // Focus can only fail on a detached element; then there is
            // nothing to type into anyway.
            let _ = element.focus();
        }
    });
}

/// Whether the page has hydrated: false in the server's render and while
/// hydrating, true once the WASM runs the page (effects run only then).
/// Controls that need the WASM are disabled until then.
fn hydrated() -> leptos::prelude::ReadSignal<bool> {
    use leptos::prelude::*;
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    hydrated
}

/// What the user typed into the field `id` before the page hydrated (on a
/// slow connection the server's page is usable seconds before the WASM
/// arrives), so the field's signal starts from it instead of wiping it.
/// Empty on the server.
fn typed_before_hydration(id: &str) -> String {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let element = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(id));
        if let Some(input) = element
            .as_ref()
            .and_then(|e| e.dyn_ref::<leptos::web_sys::HtmlInputElement>())
        {
            return input.value();
        }
        if let Some(area) = element
            .as_ref()
            .and_then(|e| e.dyn_ref::<leptos::web_sys::HtmlTextAreaElement>())
        {
            return area.value();
        }
        String::new()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = id;
        String::new()
    }
}

/// A line that mentions users, each name in a `<bdi>`: a right-to-left
/// name cannot reorder the words around it or the next name.
fn line_view(pieces: Vec<crate::room::Piece>) -> impl leptos::prelude::IntoView {
    use crate::room::Piece;
    use leptos::prelude::*;
    pieces
        .into_iter()
        .map(|piece| match piece {
            Piece::Name(name) => view! { <bdi class="name">{name}</bdi> }.into_any(),
            Piece::Text(text) => text.into_any(),
        })
        .collect_view()
}
