//! The colour theme: the system's (`prefers-color-scheme`) unless the user
//! chose light or dark in the header; the choice is remembered in the
//! browser's local storage.
//!
//! The stylesheet holds both palettes (`light-dark()`) and picks by
//! `color-scheme`, which a `data-theme` attribute on `<html>` overrides. A
//! choice must be applied before the first paint, or a dark-theme user sees
//! a white flash on every load: [`theme_script`] is a tiny inline script in
//! the shell's `<head>` that sets the attribute before the body is parsed.
//! The Content-Security-Policy lets it run because it carries the page's
//! nonce. (A cookie read by the server would avoid the script, but the
//! server would then have to render per-user `<html>` for one attribute;
//! local storage keeps the choice in the browser, where it is made.)

use leptos::prelude::*;

/// Where the browser keeps the choice; absent means "the system's".
const STORAGE_KEY: &str = "chatroom.theme";

/// The user's choice of colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    /// Whatever the system prefers.
    System,
    /// Light, whatever the system prefers.
    Light,
    /// Dark, whatever the system prefers.
    Dark,
}

impl Theme {
    /// Every choice, in the menu's order.
    const ALL: [Self; 3] = [Self::System, Self::Light, Self::Dark];

    /// The value kept in storage and in `data-theme` (none for the system's).
    fn key(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Light => "light",
            Self::Dark => "dark",
        }
    }

    /// What the menu says.
    fn label(self) -> &'static str {
        match self {
            Self::System => "Auto",
            Self::Light => "Light",
            Self::Dark => "Dark",
        }
    }

    /// The choice `key` names; anything else is the system's.
    fn from_key(key: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|theme| theme.key() == key)
            .unwrap_or(Self::System)
    }
}

/// The inline script that applies a remembered choice before the first
/// paint. Its text is a constant (no user input); storage that throws (a
/// browser that refuses it) leaves the system's colours.
pub fn theme_script() -> String {
    format!(
        "try{{var t=localStorage.getItem('{STORAGE_KEY}');\
         if(t==='light'||t==='dark')document.documentElement.dataset.theme=t}}catch(e){{}}"
    )
}

/// The header's theme menu: Auto (the system's), Light, Dark.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    // The server cannot know the choice: it renders "Auto", and the browser
    // corrects the menu once hydrated (the colours are right from the start,
    // thanks to the script in <head>).
    let theme = RwSignal::new(Theme::System);
    Effect::new(move |_| theme.set(stored()));
    let choose = move |ev| {
        let chosen = Theme::from_key(&event_target_value(&ev));
        theme.set(chosen);
        apply(chosen);
    };
    view! {
        <label class="theme">
            <span class="visually-hidden">"Colour theme"</span>
            <select id="theme" prop:value=move || theme.get().key() on:change=choose>
                {Theme::ALL
                    .into_iter()
                    .map(|t| view! { <option value=t.key()>{t.label()}</option> })
                    .collect_view()}
            </select>
        </label>
    }
}

/// The remembered choice (the system's in doubt, and always on the server).
fn stored() -> Theme {
    #[cfg(feature = "hydrate")]
    if let Some(key) = storage().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten()) {
        return Theme::from_key(&key);
    }
    Theme::System
}

/// Shows `theme` now and remembers it for the next visits.
fn apply(theme: Theme) {
    #[cfg(feature = "hydrate")]
    {
        let root = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element());
        let storage = storage();
        // Failures leave the colours or the memory as they were: nothing
        // for the user to act on.
        match theme {
            Theme::System => {
                if let Some(root) = root {
                    let _ = root.remove_attribute("data-theme");
                }
                if let Some(storage) = storage {
                    let _ = storage.remove_item(STORAGE_KEY);
                }
            }
            Theme::Light | Theme::Dark => {
                if let Some(root) = root {
                    let _ = root.set_attribute("data-theme", theme.key());
                }
                if let Some(storage) = storage {
                    let _ = storage.set_item(STORAGE_KEY, theme.key());
                }
            }
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = theme;
}

/// The browser's local storage, if it allows it.
#[cfg(feature = "hydrate")]
fn storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_anything_else_is_the_systems() {
        for theme in Theme::ALL {
            assert_eq!(Theme::from_key(theme.key()), theme);
        }
        assert_eq!(Theme::from_key("purple"), Theme::System);
        assert_eq!(Theme::from_key(""), Theme::System);
    }

    #[test]
    fn the_script_reads_the_same_key_and_only_sets_known_themes() {
        let script = theme_script();
        assert!(
            script.contains("localStorage.getItem('chatroom.theme')"),
            "{script}"
        );
        assert!(script.contains("t==='light'||t==='dark'"), "{script}");
        // Text the HTML parser would end the script at, or escape.
        assert!(!script.contains('<') && !script.contains('&'), "{script}");
    }
}
