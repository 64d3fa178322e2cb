"""The import's progress bar: files/s and a total on a terminal, nothing when disabled or piped."""

from __future__ import annotations

import io

from clipvec.cli.progress import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def on_terminal(monkeypatch) -> Terminal:
    """stderr is a terminal from now on (set in the test: pytest sets its own stderr after set-up)."""
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    return screen


def drive(bar: ProgressBar) -> None:
    bar.set_total(5)
    bar.update(2)
    bar.update(1)
    bar.close()


def test_on_a_terminal_it_shows_files_and_the_total(monkeypatch):
    terminal = on_terminal(monkeypatch)
    drive(ProgressBar(disabled=False))
    shown = terminal.getvalue()
    assert "3/5" in shown and "file" in shown


def test_disabled_shows_nothing_even_on_a_terminal(monkeypatch):
    terminal = on_terminal(monkeypatch)
    drive(ProgressBar(disabled=True))
    assert terminal.getvalue() == ""


def test_piped_shows_nothing(capsys):
    drive(ProgressBar(disabled=False))  # capsys' stderr is not a terminal
    assert capsys.readouterr() == ("", "")


def test_the_total_can_come_late(monkeypatch):
    terminal = on_terminal(monkeypatch)
    bar = ProgressBar(disabled=False)
    bar.update(1)  # files found before the scan has counted them all
    bar.set_total(2)
    bar.update(1)
    bar.close()
    assert "2/2" in terminal.getvalue()
