"""Human output: tables, bars and charts for the terminal and files."""
