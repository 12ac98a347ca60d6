"""Domain vocabulary shared by every layer (settings, tables, services, UI): pure data, importing
nothing from energyapp, so any module may import it."""
