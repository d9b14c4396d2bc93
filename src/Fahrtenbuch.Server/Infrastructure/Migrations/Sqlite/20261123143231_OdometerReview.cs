using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Fahrtenbuch.Server.Infrastructure.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class OdometerReview : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "ReviewResolution",
                table: "OdometerReadings",
                type: "TEXT",
                maxLength: 500,
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "ReviewResolvedAt",
                table: "OdometerReadings",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "ReviewResolvedBy",
                table: "OdometerReadings",
                type: "TEXT",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "ReviewResolution",
                table: "OdometerReadings");

            migrationBuilder.DropColumn(
                name: "ReviewResolvedAt",
                table: "OdometerReadings");

            migrationBuilder.DropColumn(
                name: "ReviewResolvedBy",
                table: "OdometerReadings");
        }
    }
}
